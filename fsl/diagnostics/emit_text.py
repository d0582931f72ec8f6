"""Human-readable diagnostics, in the rustc/ruff style.

    seq/a.fsl:12:9: E204 unknown field contact.seniorty
     12 |     if contact.seniorty == "vp":
        |        ^^^^^^^^^^^^^^^^
      = help: did you mean contact.seniority?

    1 error, 0 warnings in 3 files

The header line is `file:line:col:` first so that editors and terminals can
jump to it.  The source excerpt and caret line are best effort: when the file
or the line is not available only the header and help are printed.  Tabs are
expanded (and wide characters measured) the same way in the excerpt and in
the caret line, so the carets stay under the span whatever the indentation.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from .core import Diagnostic

TAB_WIDTH = 4

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_YELLOW = "\x1b[33m"
_BLUE = "\x1b[34m"


def _char_width(ch: str) -> int:
    """Terminal cells taken by one character (wide East Asian: 2, combining: 0)."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _layout(line: str) -> tuple[str, list[int]]:
    """The line as displayed (tabs expanded) and the display offset of each character.

    The offsets list has one extra entry: the offset just past the last character.
    """
    shown: list[str] = []
    offsets: list[int] = []
    pos = 0
    for ch in line:
        offsets.append(pos)
        if ch == "\t":
            n = TAB_WIDTH - pos % TAB_WIDTH
            shown.append(" " * n)
            pos += n
        else:
            shown.append(ch)
            pos += _char_width(ch)
    offsets.append(pos)
    return "".join(shown), offsets


def _display_col(offsets: list[int], column: int) -> int:
    """Display offset of a 1-based column; columns past the end continue one cell each."""
    index = max(column - 1, 0)
    last = len(offsets) - 1
    if index <= last:
        return offsets[index]
    return offsets[last] + (index - last)


def _source_line(sources: dict[str, str], file: str, line: int) -> str | None:
    """Line `line` (1-based) of `file`, without its line ending, or None when unknown.

    Splits on "\\n" only (not str.splitlines) so line numbers agree with the lexer.
    """
    text = sources.get(file)
    if text is None or line < 1:
        return None
    lines = text.split("\n")
    if line > len(lines):
        return None
    return lines[line - 1].rstrip("\r")


def _paint(text: str, *codes: str, color: bool) -> str:
    return "".join(codes) + text + _RESET if color else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _render_one(d: Diagnostic, sources: dict[str, str], color: bool) -> list[str]:
    s = d.span
    tone = _RED if d.is_error else _YELLOW
    code = _paint(d.code, _BOLD, tone, color=color)
    where = f"{s.file}:{s.line}:{s.column}:"
    if color:
        out = [f"{_BOLD}{where}{_RESET} {code} {_BOLD}{d.message}{_RESET}"]
    else:
        out = [f"{where} {d.code} {d.message}"]

    src = _source_line(sources, s.file, s.line)
    if src is not None:
        shown, offsets = _layout(src)
        start = _display_col(offsets, s.column)
        # A span over several lines is underlined to the end of its first line.
        end = _display_col(offsets, s.end_column) if s.end_line == s.line else offsets[-1]
        carets = "^" * max(end - start, 1)
        number = str(s.line)
        gutter = _paint(f" {number} |", _BOLD, _BLUE, color=color)
        blank = _paint(f" {' ' * len(number)} |", _BOLD, _BLUE, color=color)
        out.append(f"{gutter} {shown}".rstrip())
        out.append(f"{blank} {' ' * start}{_paint(carets, _BOLD, tone, color=color)}")
    if d.help:
        out.append(f"  = {_paint('help', _BOLD, color=color)}: {d.help}")
    return out


def render_text(
    diags: Iterable[Diagnostic], sources: dict[str, str], files: int, color: bool = False
) -> str:
    """All diagnostics in source order, a blank line between them, then a summary line."""
    ordered = sorted(diags, key=Diagnostic.sort_key)
    blocks = ["\n".join(_render_one(d, sources, color)) for d in ordered]
    errors = sum(1 for d in ordered if d.is_error)
    warnings = len(ordered) - errors
    summary = (
        f"{_paint(_plural(errors, 'error'), _BOLD, _RED, color=color and errors > 0)}, "
        f"{_paint(_plural(warnings, 'warning'), _BOLD, _YELLOW, color=color and warnings > 0)}"
        f" in {_plural(files, 'file')}"
    )
    return "\n\n".join([*blocks, summary]) + "\n"
