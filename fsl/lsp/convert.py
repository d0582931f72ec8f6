"""Spans (1-based, end exclusive) to LSP ranges (0-based), and paths to URIs.

Columns are counted in characters on both sides; FSL text outside the Basic
Multilingual Plane (which UTF-16 counts twice) is confined to strings and
comments, where a position one off is harmless.
"""
from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t
from pygls import uris

from ..diagnostics import Span


def to_range(span: Span) -> t.Range:
    start = t.Position(line=max(span.line - 1, 0), character=max(span.column - 1, 0))
    end_line = max(span.end_line - 1, start.line)
    end_char = max(span.end_column - 1, 0)
    if end_line == start.line and end_char < start.character:
        end_char = start.character
    return t.Range(start=start, end=t.Position(line=end_line, character=min(end_char, 10**6)))


def contains(span: Span | None, line: int, column: int) -> bool:
    """Whether a 1-based (line, column) lies in the span (its end column included, for a cursor after a word)."""
    if span is None:
        return False
    if not span.line <= line <= span.end_line:
        return False
    if line == span.line and column < span.column:
        return False
    return not (line == span.end_line and column > span.end_column)


def uri_to_path(uri: str) -> str:
    return uris.to_fs_path(uri) or uri


def path_to_uri(path: str | Path) -> str:
    return uris.from_fs_path(str(Path(path).resolve())) or str(path)
