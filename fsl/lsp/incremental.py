"""Parse a document again after an edit, re-reading only the steps that changed.

A keystroke changes one step; parsing the whole 600-line playbook again is
most of the time between the keystroke and its diagnostics.  The document is
cut into chunks -- each playbook's header with its settings and first step,
then each further step -- and each chunk is parsed by the one parser
(`fsl/syntax/`) as a playbook of its own, at its own line numbers.  A chunk
whose text was parsed before is taken from the cache, its spans moved by the
lines it moved.  The chunks' items are then put together as the whole parse
would (tests/test_lsp_incremental.py compares the two, spans included).

A chunk with a syntax error is recovered on its own, by the parser's own
recovery (syntax/recovery.py: the broken line left out), so a half-typed
line -- an editor's normal state -- costs one chunk too.  Anything unusual
-- a tab, text before the first playbook, a chunk recovery cannot read --
goes to the whole-file parser (`parse_module`).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..diagnostics import Diagnostic, Span
from ..syntax import nodes as n
from ..syntax.lexer import normalize_source, scan_comments
from ..syntax.parser import parse_module, parse_once, recover_playbook

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
    # when the chunk had syntax errors and was recovered (syntax/recovery.py): the lines left out
    # and the names they defined
    blanked: tuple[int, ...] | None = None
    hidden: frozenset[str] = frozenset()


@dataclasses.dataclass
class _Assembly:
    """One playbook being put together from its chunks."""

    name: str
    name_span: Span | None
    line: int
    items: list[n.Item]
    end: Span | None
    blanked: list[int] | None = None
    hidden: set[str] = dataclasses.field(default_factory=set)

    def add(self, parsed: _Parsed) -> None:
        self.items.extend(parsed.items)
        self.end = parsed.end
        if parsed.blanked is not None:
            self.blanked = (self.blanked or []) + list(parsed.blanked)
            self.hidden |= parsed.hidden

    def playbook(self, file: str) -> n.Playbook:
        last = self.end or self.items[-1].span
        span = Span(file, self.name_span.line if self.name_span is not None else self.line, 1,
                    last.end_line, last.end_column)
        return n.Playbook(self.name, tuple(self.items), span, self.name_span if self.name_span is not None else span)


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
    done: list[_Assembly] = []
    diags: list[Diagnostic] = []
    for is_head, first, chunk, following in chunks:
        parsed = _chunk(cache, (is_head, chunk, following), first, file)
        if parsed is None:
            return parse_module(text, file)
        seen[(is_head, chunk, following)] = parsed
        parsed = _moved(parsed, first)
        diags.extend(parsed.diags)
        if is_head:
            done.append(_Assembly(parsed.name, parsed.name_span, first, [], None))
        done[-1].add(parsed)
    cache.chunks = seen
    playbooks = [a.playbook(file) for a in done]
    recovered = tuple(n.Recovered(a.name, pb.span.line, pb.span.end_line, tuple(a.blanked), frozenset(a.hidden))
                      for a, pb in zip(done, playbooks) if a.blanked is not None)
    broken = tuple(r.name for r in recovered)
    return n.Module(file, tuple(playbooks), scan_comments(text), broken, recovered), diags


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
    ok, pbs, diags, culprit = parse_once(text, file)
    blanked: tuple[int, ...] | None = None
    hidden: frozenset[str] = frozenset()
    if not ok:
        # the whole parser's recovery, on this chunk alone (its first line is the playbook's, real or stand-in)
        again = recover_playbook(text, first if is_head else 1, culprit, {d.span.line for d in diags}, file)
        if again is None:
            return None
        pbs, more, info = again
        diags = diags + more
        blanked, hidden = info.blanked, info.hidden_names
    if len(pbs) != 1:
        return None
    pb = pbs[0]
    items = pb.items
    if following is not None:
        if not items or not isinstance(items[-1], n.Step) or items[-1].name != "zzstandin":
            return None
        items = items[:-1]
    if not items:
        return None
    return _Parsed(first, items, list(diags), pb.name_span, pb.name, pb.span, blanked, hidden)


def _moved(parsed: _Parsed, first: int) -> _Parsed:
    delta = first - parsed.first_line
    if delta == 0:
        return parsed
    blanked = tuple(ln + delta for ln in parsed.blanked) if parsed.blanked is not None else None
    return _Parsed(first, _shift(parsed.items, delta), _shift(parsed.diags, delta),
                   _shift(parsed.name_span, delta), parsed.name, _shift(parsed.end, delta), blanked, parsed.hidden)


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
