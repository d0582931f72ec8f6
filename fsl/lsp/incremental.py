"""Parse a document again after an edit, re-reading only the steps that changed.

A keystroke changes one step; parsing the whole 600-line playbook again is
most of the time between the keystroke and its diagnostics.  The document is
cut into chunks -- each playbook's header with its settings and first step,
then each further step -- and each chunk is parsed by the one parser
(`fsl/syntax/`) as a playbook of its own, at its own line numbers.  A chunk
whose text was parsed before is taken from the cache, its spans moved by the
lines it moved.  The chunks' items are then put together as the whole parse
would (tests/test_lsp_incremental.py compares the two, spans included).

Anything unusual -- a syntax error, a tab, text before the first playbook --
goes to the whole-file parser (`parse_module`), which owns recovery and every
diagnostic of a broken file.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..diagnostics import Diagnostic, Span
from ..syntax import nodes as n
from ..syntax.lexer import normalize_source, scan_comments
from ..syntax.parser import _parse_text, parse_module

_PLAYBOOK = re.compile(r"^playbook\b")
_STEP = re.compile(r"^( +)step\b")
_HEAD = "playbook zzchunk:\n"


@dataclasses.dataclass
class _Parsed:
    first_line: int
    items: tuple[n.Item, ...]
    diags: list[Diagnostic]
    name_span: Span | None = None
    name: str = ""
    end: Span | None = None  # the chunk's playbook span: where the playbook ends when this chunk is its last


class ChunkCache:
    """The chunks of the previous parse of one document, by text."""

    def __init__(self) -> None:
        self.chunks: dict[tuple[bool, str, int | None], _Parsed] = {}


def parse_incremental(text: str, file: str, cache: ChunkCache) -> tuple[n.Module, list[Diagnostic]]:
    text = normalize_source(text)
    if not text.endswith("\n"):
        text += "\n"
    chunks = _cut(text)
    if chunks is None:
        return parse_module(text, file)
    seen: dict[tuple[bool, str, int | None], _Parsed] = {}
    playbooks: list[n.Playbook] = []
    diags: list[Diagnostic] = []
    current: tuple[str, Span | None, int, list[n.Item], list[Span | None]] | None = None
    for is_head, first, chunk, following in chunks:
        parsed = _chunk(cache, (is_head, chunk, following), first, file)
        if parsed is None:
            return parse_module(text, file)
        seen[(is_head, chunk, following)] = parsed
        parsed = _moved(parsed, first)
        diags.extend(parsed.diags)
        if is_head:
            if current is not None:
                playbooks.append(_playbook(current, file))
            current = (parsed.name, parsed.name_span, first, list(parsed.items), [parsed.end])
        elif current is not None:
            current[3].extend(parsed.items)
            current[4].append(parsed.end)
    if current is not None:
        playbooks.append(_playbook(current, file))
    cache.chunks = seen
    return n.Module(file, tuple(playbooks), scan_comments(text), ()), diags


def _cut(text: str) -> list[tuple[bool, int, str, int | None]] | None:
    """(is a playbook's head, first line, text, indent of the step that follows) of each chunk.

    None when the file is unusual.  The indent matters: a block's span ends
    where the next line starts, so a chunk is parsed with a stand-in step at
    the following step's indentation, and its spans end where they would.
    """
    if "\t" in text:
        return None
    lines = text.split("\n")
    starts: list[tuple[bool, int, int]] = []
    item_indent: int | None = None
    steps_seen = 0
    for i, line in enumerate(lines):
        if _PLAYBOOK.match(line):
            starts.append((True, i, 0))
            item_indent, steps_seen = None, 0
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not starts:
            return None  # code before the first playbook: the whole parser says what is wrong
        indent = len(line) - len(line.lstrip(" "))
        if item_indent is None:
            item_indent = indent
        m = _STEP.match(line)
        if m and len(m.group(1)) == item_indent:
            steps_seen += 1
            if steps_seen > 1:  # the first step stays with the head: a head alone may hold no item
                starts.append((False, i, indent))
    if not starts or starts[0][1] != 0 and any(ln.strip() and not ln.lstrip().startswith("#")
                                               for ln in lines[:starts[0][1]]):
        return None
    out = []
    for k, (is_head, i, _) in enumerate(starts):
        j = starts[k + 1][1] if k + 1 < len(starts) else len(lines)
        following = starts[k + 1][2] if k + 1 < len(starts) and not starts[k + 1][0] else None
        a = 0 if k == 0 else i  # comments before the first playbook go with it
        # the chunk runs to the line before the next one, so a stand-in step lands on that line
        # (the text ends with a newline, so the last chunk already does)
        tail = "\n" if j < len(lines) else ""
        out.append((is_head, a + 1, "\n".join(lines[a:j]) + tail, following))
    return out


def _chunk(cache: ChunkCache, key: tuple[bool, str, int | None], first: int, file: str) -> _Parsed | None:
    found = cache.chunks.get(key)
    if found is not None:
        return found
    is_head, chunk, following = key
    text = "\n" * (first - 1) + chunk if is_head else _HEAD + "\n" * (first - 2) + chunk
    if following is not None:
        text += " " * following + "step zzstandin:\n" + " " * (following + 4) + "end\n"
    ok, pbs, diags = _parse_text(text, file)
    if not ok or len(pbs) != 1 or any(d.is_error and d.code == "E101" for d in diags):
        return None
    pb = pbs[0]
    items = pb.items[:-1] if following is not None else pb.items
    return _Parsed(first, items, list(diags), pb.name_span, pb.name, pb.span)


def _playbook(current: tuple[str, Span | None, int, list[n.Item], list[Span | None]], file: str) -> n.Playbook:
    name, name_span, line, items, ends = current
    last = ends[-1] or items[-1].span
    span = Span(file, name_span.line if name_span is not None else line, 1, last.end_line, last.end_column)
    return n.Playbook(name, tuple(items), span, name_span if name_span is not None else span)


def _moved(parsed: _Parsed, first: int) -> _Parsed:
    delta = first - parsed.first_line
    if delta == 0:
        return parsed
    return _Parsed(first, _shift(parsed.items, delta), _shift(parsed.diags, delta),
                   _shift(parsed.name_span, delta), parsed.name, _shift(parsed.end, delta))


_FIELDS: dict[type, tuple[str, ...]] = {}


def _shift(value: Any, delta: int) -> Any:
    """The same nodes with every span `delta` lines further down."""
    if isinstance(value, Span):
        return dataclasses.replace(value, line=value.line + delta, end_line=value.end_line + delta)
    if isinstance(value, (tuple, list)):
        return type(value)(_shift(v, delta) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELDS.get(type(value))
        if names is None:
            names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
        return type(value)(**{k: _shift(getattr(value, k), delta) for k in names})
    return value
