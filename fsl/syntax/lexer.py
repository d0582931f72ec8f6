"""Lexing concerns that the grammar cannot express: indentation and comments.

Lark's contextual lexer produces the tokens; `FslIndenter` turns the
indentation carried by newline tokens into _INDENT/_DEDENT, and reports a
dedent to a level never opened with its position.  `prescan` finds tabs in
indentation before parsing (E102) and `scan_comments` collects comments for
the formatter, which must keep them in place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from lark.indenter import Indenter
from lark.lexer import Token

from .nodes import Comment


class IndentationError_(Exception):
    """A dedent to a level that was never opened (E102)."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


class FslIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4

    def handle_NL(self, token: Token) -> Iterator[Token]:
        # Same as lark's, but the error carries the position of the dedented line.
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        indent = len(indent_str.expandtabs(self.tab_len))
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            line = (token.end_line or token.line or 1)
            levels = ", ".join(str(i) for i in self.indent_level)
            raise IndentationError_(
                line,
                indent + 1,
                f"this line is indented by {indent} spaces, which matches no enclosing block "
                f"(open blocks are indented by {levels})",
            )


def normalize_source(text: str) -> str:
    """The text the parser reads: LF line ends (from CRLF or a lone CR) and no BOM.

    Every reader of a playbook goes through here, so line numbers agree between
    the parser, the formatter and the caret display.  A CR-only file would
    otherwise be one long line, its first comment swallowing every playbook.
    Each line break stays one character, so columns do not move.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.lstrip("\ufeff")


@dataclass(frozen=True, slots=True)
class TabProblem:
    line: int
    column: int


def prescan(text: str) -> tuple[str, list[TabProblem]]:
    """Find tabs in indentation (E102) and return the text with them expanded.

    Expanding lets the parser go on and report the file's other problems.
    """
    problems: list[TabProblem] = []
    if "\t" not in text:
        return text, problems
    lines = text.split("\n")
    for i, line in enumerate(lines):
        stripped = line.lstrip(" \t")
        indent = line[: len(line) - len(stripped)]
        if "\t" in indent and stripped and not stripped.startswith("#"):
            problems.append(TabProblem(i + 1, indent.index("\t") + 1))
            lines[i] = indent.expandtabs(8) + stripped  # as Python reads tabs
    return "\n".join(lines), problems


def scan_comments(text: str) -> tuple[Comment, ...]:
    """Every `#` comment outside a string, with its position."""
    out: list[Comment] = []
    if "#" not in text:
        return ()
    for n, line in enumerate(text.split("\n"), start=1):
        if "#" not in line:
            continue
        in_str = False
        escaped = False
        for col, ch in enumerate(line):
            if in_str:
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "#":
                own = line[:col].strip() == ""
                out.append(Comment(n, col + 1, line[col + 1 :].rstrip(), own))
                break
    return tuple(out)
