"""One entry point for every output format of `fsl check --format ...`.

The CLI only needs the format name; keeping the dispatch here means a new
format is added in one place and `FORMATS` can feed click's `Choice`.
"""
from __future__ import annotations

from collections.abc import Iterable

from .. import __version__
from .core import Diagnostic
from .emit_github import render_github
from .emit_json import render_json
from .emit_sarif import render_sarif
from .emit_text import render_text

FORMATS: tuple[str, ...] = ("text", "json", "github", "sarif")


def emit(
    fmt: str,
    diags: Iterable[Diagnostic],
    sources: dict[str, str],
    files: int,
    color: bool = False,
    tool_version: str = __version__,
) -> str:
    """Render `diags` in format `fmt` (one of FORMATS); ValueError for an unknown format."""
    diags = list(diags)
    if fmt == "text":
        return render_text(diags, sources, files, color=color)
    if fmt == "json":
        return render_json(diags, files)
    if fmt == "github":
        return render_github(diags)
    if fmt == "sarif":
        return render_sarif(diags, tool_version)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
