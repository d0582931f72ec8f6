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


HALF_TYPED = """\
playbook p:
    enroll on trial_started
    stop on unsubscribed
    step a:
        send email "
        wait 2 days
    step
    step b after 2 days:
        if contact.
        send email "welcome"
    step c after 1 day:
        if deal.valeu > 3:
            end
    let x = (contact.plan ==
    step d after 1 day:
        goto c
        send sms "hello" to contact.phon

playbook q:
    stop of
    step a:
        goto zz
"""


@pytest.mark.parametrize("text", [
    HALF_TYPED,
    (ROOT / "tests" / "fixtures" / "check" / "cases" / "syntax_recovery_in_playbook.fsl").read_text(),
    (ROOT / "tests" / "fixtures" / "check" / "cases" / "syntax_recovery.fsl").read_text(),
])
def test_half_typed_lines_are_recovered_per_chunk_as_the_whole_parser_does(text: str) -> None:
    whole, wd = parse_module(text, "f.fsl")
    cache = ChunkCache()
    part, pd = parse_incremental(text, "f.fsl", cache)
    assert sorted((d.code, d.span.line, d.span.column) for d in pd) == \
        sorted((d.code, d.span.line, d.span.column) for d in wd)
    assert part == whole and set(part.broken) == set(whole.broken)
    assert [(r.name, r.blanked, r.hidden_names) for r in part.recovered] == \
        [(r.name, r.blanked, r.hidden_names) for r in whole.recovered]
    # typing on: the line moves down, the chunks are reused, the answer is the same
    moved = "# typed above\n" + text
    again, ad = parse_incremental(moved, "f.fsl", cache)
    assert sorted((d.code, d.span.line) for d in ad) == sorted((d.code, d.span.line + 1) for d in wd)
    assert [r.blanked for r in again.recovered] == [tuple(x + 1 for x in r.blanked) for r in whole.recovered]
