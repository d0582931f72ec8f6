"""`defaults:` of fsl.yaml (CONFIG.md v1.1): playbook settings and rules
every playbook inherits.

The block is FSL text, parsed as the body of a playbook by the one parser, so
it is written and checked like a playbook and every position in it is its
real line and column in fsl.yaml: the text given to the parser keeps the
block's lines where they are (blank lines before it) and puts a `playbook`
header on the `defaults: |` line itself.

A playbook inherits each default setting it does not set itself; the default
caps and stop and pause rules apply in addition to its own.  Entry (`enroll
...`), `let`s and steps belong to one playbook and are refused here.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..diagnostics import Diagnostic, Span
from . import nodes as n
from .parser import parse_module

NAME = "(defaults)"  # never a playbook's name (not a NAME token): no clash, no E203

# Rules that add to a playbook's own; every other kind allowed here is a setting.
ADDITIVE = (n.Cap, n.StopOn, n.StopWhen, n.PauseOn)
# What only a playbook can say, with the words for the message.
REFUSED = {n.EnrollOn: "enroll on", n.EnrollWhen: "enroll when", n.Let: "let", n.Step: "step"}


@dataclass(frozen=True)
class Defaults:
    """The parsed block (a playbook named NAME, spans in fsl.yaml) and its lines."""

    playbook: n.Playbook
    lines: tuple[str, ...]  # fsl.yaml's lines, to quote an inherited item as written

    def text(self, item: n.Item) -> str:
        """An item as written in fsl.yaml (one line; a bracketed continuation joined)."""
        s = item.span
        if s.line == s.end_line:
            return self.lines[s.line - 1][s.column - 1:s.end_column - 1].strip()
        parts = [self.lines[s.line - 1][s.column - 1:], *self.lines[s.line:s.end_line - 1],
                 self.lines[s.end_line - 1][:s.end_column - 1]]
        return " ".join(p.strip() for p in parts if p.strip())


def parse_defaults(file_text: str, key_line: int, block_lines: int, file: str) -> tuple[Defaults | None,
                                                                                         list[Diagnostic]]:
    """The `defaults` block, or None with the problems.

    key_line: the 0-based line of `defaults: |`; block_lines: how many lines
    its literal block holds (they follow that line in the file)."""
    lines = file_text.splitlines()
    body = lines[key_line + 1:key_line + 1 + block_lines]
    source = "\n" * key_line + "playbook defaults:\n" + "\n".join(body) + "\n"
    module, diags = parse_module(source, file)
    if diags or not module.playbooks:
        return None, diags
    pb = module.playbooks[0]
    problems = [Diagnostic.make(
        "E002", f"`defaults` holds settings and rules for every playbook; `{word}` belongs in a playbook",
        _head(item.span, len(word)), "move it into the playbooks that need it")
        for item in pb.items for kind, word in REFUSED.items() if isinstance(item, kind)]
    if problems:
        return None, problems
    return Defaults(replace(pb, name=NAME), tuple(lines)), []


def inherit(pb: n.Playbook, defaults: n.Playbook | None, *, relocate: bool = False) -> n.Playbook:
    """The playbook with what it inherits from `defaults` appended.

    relocate: give inherited items line 0 (the compiler: plan lines are lines
    of the playbook's own file, and these come from fsl.yaml)."""
    extra = inherited(pb, defaults)
    if not extra:
        return pb
    if relocate:
        extra = [replace(item, span=Span(item.span.file, 0, 0, 0, 0)) for item in extra]
    return replace(pb, items=pb.items + tuple(extra))


def inherited(pb: n.Playbook, defaults: n.Playbook | None) -> list[n.Item]:
    """The items of `defaults` that `pb` inherits, in the order written."""
    if defaults is None:
        return []
    own = {type(item) for item in pb.items}
    return [item for item in defaults.items if isinstance(item, ADDITIVE) or type(item) not in own]


def _head(span: Span, length: int) -> Span:
    return Span(span.file, span.line, span.column, span.line, span.column + length)
