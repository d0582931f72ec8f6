"""Diagnostics as GitHub Actions workflow commands, so they show as annotations on a PR.

    ::error file=seq/a.fsl,line=12,col=9,endLine=12,endColumn=16,title=E204::unknown field ...

The runner parses each command from a single line, with `,` separating
properties and `::` ending them, so the message (data) and the property
values are escaped as GitHub's toolkit does (`escapeData` / `escapeProperty`).
"""
from __future__ import annotations

from collections.abc import Iterable

from .core import Diagnostic


def escape_data(text: str) -> str:
    """Escape the message part of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value: as data, plus the `:` and `,` that delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(d: Diagnostic) -> str:
    s = d.span
    props = {
        "file": s.file.replace("\\", "/"),
        "line": s.line,
        "col": s.column,
        "endLine": s.end_line,
        "endColumn": s.end_column,
        "title": d.code,
    }
    joined = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items())
    message = d.message if not d.help else f"{d.message} (help: {d.help})"
    return f"::{d.severity} {joined}::{escape_data(message)}"


def render_github(diags: Iterable[Diagnostic]) -> str:
    """One workflow command per diagnostic, in source order; empty string when none."""
    return "".join(_command(d) + "\n" for d in sorted(diags, key=Diagnostic.sort_key))
