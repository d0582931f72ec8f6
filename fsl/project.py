"""A project: its config, its template store, and the playbook files to read.

The CLI and the library API both start here, so `fsl check`, `fsl compile`
and the runtime see the same files the same way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, find_config, load_config
from .diagnostics import Diagnostic, Span
from .syntax import nodes as n
from .syntax.lexer import normalize_source
from .syntax.parser import parse_module
from .templates import TemplateStore


@dataclass
class Project:
    config: Config | None
    templates: TemplateStore | None
    config_diags: list[Diagnostic] = field(default_factory=list)

    @staticmethod
    def load(config_path: str | Path | None, start: Path | None = None) -> "Project":
        """Load the project file given, or the nearest fsl.yaml above `start`."""
        path = Path(config_path) if config_path else find_config(start or Path.cwd())
        if path is None:
            return Project(None, None)
        config, diags = load_config(path)
        templates = TemplateStore(config.templates) if config else None
        return Project(config, templates, diags)


@dataclass(frozen=True)
class Source:
    file: str  # as shown in diagnostics
    text: str


def display_path(path: Path) -> str:
    """A path relative to the current folder when it is below it, else as given."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return str(path)


def discover(paths: list[Path], project: Project) -> tuple[list[Path], list[Diagnostic]]:
    """The .fsl files named or found below the folders named (default: the sequences folder)."""
    if not paths:
        if project.config is None and project.config_diags:
            return [], []  # the project file's own errors say what is wrong; no second, vaguer one
        if project.config is None:
            return [], [Diagnostic.make("E001", "no playbooks named and no fsl.yaml found",
                                        Span.point("fsl.yaml", 1, 1),
                                        "name .fsl files or folders, or add an fsl.yaml (fsl check --config PATH)")]
        paths = [project.config.sequences]
    files: list[Path] = []
    diags: list[Diagnostic] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(q for q in p.rglob("*.fsl") if q.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            diags.append(Diagnostic.make("E001", f"no such file or folder: {p}", Span.point(str(p), 1, 1)))
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, diags


def unchecked_without_config(files: list[Path], project: Project) -> list[Diagnostic]:
    """W408 when no project file was found: the playbooks were checked, their names were not.

    Without fsl.yaml an unknown field, event, template or channel passes
    silently, so say it, once, at the first file checked.
    """
    if project.config is not None or project.config_diags or not files:
        return []
    return [Diagnostic.make(
        "W408", "no fsl.yaml found: fields, events, templates and channels were not checked",
        Span.point(display_path(Path(files[0])), 1, 1),
        "add an fsl.yaml above the playbooks, or name one with --config PATH")]


def read_source(path: Path) -> tuple[Source | None, list[Diagnostic]]:
    file = display_path(path)
    try:
        return Source(file, normalize_source(path.read_bytes().decode("utf-8"))), []
    except UnicodeDecodeError as e:
        return None, [Diagnostic.make("E001", f"{file} is not UTF-8 text (byte {e.start})", Span.point(file, 1, 1))]
    except OSError as e:
        return None, [Diagnostic.make("E001", f"cannot read {file}: {e.strerror or e}", Span.point(file, 1, 1))]


def parse_sources(sources: list[Source]) -> tuple[list[n.Module], list[Diagnostic]]:
    modules, diags = [], []
    for s in sources:
        m, d = parse_module(s.text, s.file)
        modules.append(m)
        diags.extend(d)
    return modules, diags
