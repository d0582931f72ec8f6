"""Recovery inside one playbook: blank the broken line, read the rest again.

A half-typed line is an editor's normal state, and a syntax error must not
hide the problems further down the same playbook (a `deal.amout` three steps
below).  FSL is line-oriented: every step, action, setting and rule is one
logical line, perhaps opening an indented block.  So when the parser stops
at a line, that line (and the block it opens) is replaced and the playbook
is parsed again, until it parses or nothing more can be repaired.

What replaces a line: inside a step, the action `end` (a block is never left
empty by it, and it names nothing); at the playbook's own level, nothing.
A line already replaced that still fails is blanked; one already blanked
that still fails ends the recovery (the playbook stays unread, as before).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# How many lines one playbook may lose before recovery gives up: a file of
# garbage is not worth re-parsing a thousand times.
MAX_REPAIRS = 40

_DEFINES = re.compile(r"^\s*(?:step|let)\s+([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Culprit:
    """Where a parse failed, in the terms recovery needs.

    `line` is 1-based in the whole file.  `mode`: "line" (that line is bad),
    "previous" (the code line before it is: it opened a block that never
    came, or was cut short) or "indent" (that line is indented for no block).
    """

    line: int
    mode: str = "line"


@dataclass
class Repair:
    """The text of one playbook being repaired; line numbers are the file's."""

    lines: list[str]  # the padded chunk, split on "\n"
    first_line: int  # the playbook's own line
    state: dict[int, str] = field(default_factory=dict)  # line -> "placeholder" | "blank"
    hidden: set[str] = field(default_factory=set)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def blanked(self) -> tuple[int, ...]:
        return tuple(sorted(self.state))

    def repair(self, culprit: Culprit) -> bool:
        """Replace the culprit's line and its block; False when nothing more can be done."""
        if len(self.state) >= MAX_REPAIRS:
            return False
        line = self._target(culprit)
        if line is None or line <= self.first_line:
            return False
        line = self._opening(line)
        if line <= self.first_line:
            return False
        was = self.state.get(line)
        if was == "blank":
            return False
        indent = _indent(self.lines[line - 1])
        block = self._block(line, inclusive=culprit.mode == "indent")
        item_indent = self._item_indent()
        use_placeholder = was is None and item_indent is not None and indent > item_indent
        self._hide(line)
        self.lines[line - 1] = " " * indent + "end" if use_placeholder else ""
        self.state[line] = "placeholder" if use_placeholder else "blank"
        for other in block:
            self._hide(other)
            self.lines[other - 1] = ""
            self.state[other] = "blank"
        return True

    def _target(self, culprit: Culprit) -> int | None:
        if culprit.mode != "previous":
            return culprit.line if 0 < culprit.line <= len(self.lines) else None
        for ln in range(min(culprit.line, len(self.lines) + 1) - 1, self.first_line, -1):
            if _is_code(self.lines[ln - 1]):
                return ln
        return None

    def _opening(self, line: int) -> int:
        """The line where a bracket left open above `line` opened (newlines inside brackets are ignored)."""
        depth, opened = 0, line
        for ln in range(self.first_line, line):
            before = depth
            depth = max(0, depth + _bracket_balance(self.lines[ln - 1]))
            if before == 0 and depth > 0:
                opened = ln
        return opened if depth > 0 else line

    def _block(self, line: int, inclusive: bool) -> list[int]:
        """The lines after `line` indented deeper than it (or as deep, for a stray indented line)."""
        indent = _indent(self.lines[line - 1])
        out = []
        for ln in range(line + 1, len(self.lines) + 1):
            text = self.lines[ln - 1]
            if not _is_code(text):
                continue
            deeper = _indent(text) >= indent if inclusive else _indent(text) > indent
            if not deeper:
                break
            out.append(ln)
        return out

    def _item_indent(self) -> int | None:
        for ln in range(self.first_line + 1, len(self.lines) + 1):
            if _is_code(self.lines[ln - 1]) and self.state.get(ln) != "blank":
                return _indent(self.lines[ln - 1])
        return None

    def _hide(self, line: int) -> None:
        if m := _DEFINES.match(self.lines[line - 1]):
            self.hidden.add(m.group(1))


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def _is_code(text: str) -> bool:
    s = text.strip()
    return bool(s) and not s.startswith("#")


def _bracket_balance(text: str) -> int:
    """Opened minus closed brackets on a line, outside strings and comments."""
    text = re.sub(r'"(\\.|[^"\\\n])*"?', '""', text)
    text = text.split("#", 1)[0]
    return text.count("(") + text.count("[") - text.count(")") - text.count("]")
