"""fsl/lsp/incremental.py: re-reading only the chunks that changed gives exactly
the whole parse (nodes, spans, diagnostics), before and after edits."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fsl.diagnostics import Span
from fsl.lsp.incremental import ChunkCache, parse_incremental
from fsl.syntax.parser import parse_module

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*(ROOT / "sequences").rglob("*.fsl"), *(ROOT / "tests" / "fixtures").rglob("*.fsl")])


def spans(value, out: list) -> list:
    """Every span of a parse, in order (equality of nodes ignores them)."""
    if isinstance(value, Span):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            spans(v, out)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            spans(getattr(value, f.name), out)
    return out


def same_as_whole(text: str, cache: ChunkCache) -> None:
    whole, wd = parse_module(text, "f.fsl")
    part, pd = parse_incremental(text, "f.fsl", cache)
    assert part == whole
    assert part.broken == whole.broken and part.comments == whole.comments
    assert spans(part, []) == spans(whole, [])
    assert pd == wd


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_each_file_reads_as_the_whole_parse_reads_it(path: Path) -> None:
    text = path.read_text()
    cache = ChunkCache()
    same_as_whole(text, cache)
    # edits: a line added at the top (every chunk moves), a step's line changed, a line taken out
    lines = text.split("\n")
    for edited in (
        "# a new comment\n" + text,
        "\n".join(lines[:len(lines) // 2] + [""] + lines[len(lines) // 2:]),
        text.replace("after 2 days", "after 3 days", 1),
        "\n".join(lines[:3] + lines[4:]),
        text,
    ):
        same_as_whole(edited, cache)


def test_unchanged_steps_are_not_parsed_again() -> None:
    text = "playbook p:\n    stop on unsubscribed\n" + "".join(
        f"    step s{i} after 1 day:\n        send email \"x\"\n" for i in range(30))
    cache = ChunkCache()
    parse_incremental(text, "f.fsl", cache)
    before = {k: id(v) for k, v in cache.chunks.items()}
    parse_incremental(text.replace("step s7 after 1 day", "step s7 after 2 days"), "f.fsl", cache)
    kept = [k for k, v in cache.chunks.items() if before.get(k) == id(v)]
    assert len(kept) == len(cache.chunks) - 1 == 29
