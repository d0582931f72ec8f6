"""Check many files on every core.

Parsing is most of the cost of `fsl check`, and files parse independently, so
large projects are split into contiguous chunks checked in worker processes
(forked, so the grammar and project are already loaded).  Only E203 compares
playbooks of different files: workers return each playbook's name and span
and the parent reports duplicates across all chunks, in file order, exactly
as the sequential checker does.
"""
from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..diagnostics import Diagnostic, Span
from ..syntax import nodes as n
from .context import CheckContext
from .names import report_duplicate_playbooks
from .passes import run_checks

if TYPE_CHECKING:
    from ..project import Project

# what the cross-file E203 pass needs of a playbook: file, name, span, name span
_Head = tuple[str, str, Span, Span]

MIN_FILES = 48  # below this, starting workers costs more than it saves
_project: Project | None = None  # set in the parent before forking; read by the workers


def worth_it(files: int) -> bool:
    return files >= MIN_FILES and (os.cpu_count() or 1) > 1 and "fork" in multiprocessing.get_all_start_methods()


def _check_chunk(paths: list[str]) -> tuple[list[Diagnostic], list[_Head]]:
    from ..project import parse_sources, read_source

    assert _project is not None, "check_files sets it before forking the workers"

    sources, diags = [], []
    for p in paths:
        src, d = read_source(Path(p))
        diags.extend(d)
        if src:
            sources.append(src)
    modules, syntax = parse_sources(sources)
    diags.extend(syntax)
    ctx = CheckContext(modules, _project.config, _project.templates)
    diags.extend(d for d in run_checks(ctx) if d.code != "E203")
    heads = [(m.file, pb.name, pb.span, pb.name_span) for m in modules for pb in m.playbooks]
    return diags, heads


def check_files(files: list[Path], project: Project) -> list[Diagnostic]:
    """Diagnostics of every file (the caller adds config and discovery problems)."""
    global _project
    _project = project
    _warm(project)
    workers = min(os.cpu_count() or 1, 8)
    # contiguous chunks keep "first definition" in file order for E203
    size = -(-len(files) // (workers * 4))
    chunks = [[str(f) for f in files[i:i + size]] for i in range(0, len(files), size)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_check_chunk, chunks)
    diags: list[Diagnostic] = []
    heads: list[_Head] = []
    for d, h in results:
        diags.extend(d)
        heads.extend(h)
    modules = _stub_modules(heads)
    ctx = CheckContext(modules, project.config, project.templates)
    report_duplicate_playbooks(ctx)
    return diags + ctx.diags


def _warm(project: Project) -> None:
    """Load the grammar and every template once, before forking, so that the
    workers inherit them instead of each loading its own copy."""
    from ..syntax.grammar import lark_parser

    lark_parser()
    if project.templates is not None:
        for name in project.templates.names():
            try:
                project.templates.lookup(name)
            except Exception:  # noqa: BLE001 - a broken template is reported by the check itself
                pass


def _stub_modules(heads: list[_Head]) -> list[n.Module]:
    """Modules holding only playbook heads: enough for the cross-file E203 pass."""
    by_file: dict[str, list[n.Playbook]] = {}
    for file, name, span, name_span in heads:
        by_file.setdefault(file, []).append(n.Playbook(name, (), span, name_span))
    return [n.Module(f, tuple(pbs)) for f, pbs in by_file.items()]
