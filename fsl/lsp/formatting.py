"""Formatting through `fsl fmt`'s own function, which proves the plan unchanged.

`format_source` recompiles the result and compares the plan hashes (and the
AST, the comments, idempotence); when a check fails, or the text has syntax
errors, nothing is edited and the reason is shown to the user.
"""
from __future__ import annotations

from lsprotocol import types as t

from ..fmt import FormatError, SourceError, format_source
from .analysis import Analysis


class FormatRefused(Exception):
    """Formatting would not be safe, or the text cannot be read; the message says why."""


def format_document(a: Analysis) -> list[t.TextEdit]:
    try:
        out = format_source(a.text, a.path, a.project.config)
    except SourceError as e:
        raise FormatRefused(f"fsl fmt: not formatted, the file has syntax errors ({e})") from e
    except FormatError as e:
        raise FormatRefused(f"fsl fmt refused: {e}") from e
    if out == a.text:
        return []
    lines = a.text.split("\n")
    end = t.Position(line=len(lines) - 1, character=len(lines[-1]))
    return [t.TextEdit(range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=out)]
