"""One document read and checked as `fsl check` would, with its project.

The document is parsed from the editor's text (saved or not); fsl.yaml and
the templates come from disk.  Diagnostics come back by file: those of the
document, and those of fsl.yaml and of templates the document sends (a
broken template is reported at its own line, as `fsl check` does).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..api import dedupe
from ..check import CheckContext, run_checks
from ..diagnostics import Diagnostic
from ..project import Project, unchecked_without_config
from ..syntax import nodes as n
from ..syntax.lexer import normalize_source
from ..syntax.parser import parse_module
from .incremental import ChunkCache, parse_incremental


@dataclass
class Analysis:
    path: str
    text: str
    module: n.Module
    project: Project
    by_file: dict[str, list[Diagnostic]] = field(default_factory=dict)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self.by_file.get(self.path, [])

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def analyse(path: str, text: str, project: Project, cache: ChunkCache | None = None) -> Analysis:
    """`cache`: the document's chunks from its previous analysis (incremental.py), to parse only what changed."""
    text = normalize_source(text)
    module, diags = parse_incremental(text, path, cache) if cache is not None else parse_module(text, path)
    diags = list(diags)
    diags.extend(project.config_diags)
    diags.extend(unchecked_without_config([Path(path)], project))
    diags.extend(run_checks(CheckContext([module], project.config, project.templates)))
    by_file: dict[str, list[Diagnostic]] = {path: []}
    for d in dedupe(diags):
        by_file.setdefault(_absolute(d.span.file, path, project), []).append(d)
    return Analysis(path, text, module, project, by_file)


def _absolute(file: str, document: str, project: Project) -> str:
    """Diagnostics name other files as the CLI shows them (relative to the working folder)."""
    if file == document or os.path.isabs(file):
        return file
    candidates = [Path.cwd() / file]
    if project.config is not None:
        candidates.insert(0, project.config.root / file)
    for c in candidates:
        if c.exists():
            return str(c.resolve())
    return str(candidates[-1])
