"""The library API; `fsl/cli/main.py` is a thin layer over these functions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .check import CheckContext, run_checks
from .diagnostics import Diagnostic
from .project import Project, Source, discover, parse_sources, read_source, unchecked_without_config
from .syntax import nodes as n


@dataclass
class CheckResult:
    files: int
    diagnostics: list[Diagnostic]
    sources: dict[str, str] = field(default_factory=dict)
    modules: list[n.Module] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def check_project(paths: list[Path], project: Project, keep_modules: bool = True) -> CheckResult:
    """Check files; without `keep_modules` large projects are checked on every core."""
    files, diags = discover(paths, project)
    diags = list(project.config_diags) + diags + unchecked_without_config(files, project)
    from .check import parallel

    if not keep_modules and parallel.worth_it(len(files)):
        diags = dedupe(diags + parallel.check_files(files, project))
        return CheckResult(len(files), sorted(diags, key=Diagnostic.sort_key), _texts_of(diags, project))
    sources: list[Source] = []
    for f in files:
        src, d = read_source(f)
        diags.extend(d)
        if src:
            sources.append(src)
    modules, syntax = parse_sources(sources)
    diags.extend(syntax)
    ctx = CheckContext(modules, project.config, project.templates)
    diags.extend(run_checks(ctx))
    diags = dedupe(diags)
    texts = {**_texts_of(project.config_diags, project), **{s.file: s.text for s in sources}}
    defaults = project.config.defaults if project.config is not None else None
    if defaults is not None:  # problems in its `defaults` lines are quoted from fsl.yaml
        texts.setdefault(defaults.playbook.span.file, "\n".join(defaults.lines))
    if project.config is not None:
        try:
            texts[str(project.config.path)] = project.config.path.read_text()
        except OSError:
            pass
    return CheckResult(len(files), sorted(diags, key=Diagnostic.sort_key), texts, modules)


def _texts_of(diags: list[Diagnostic], project: Project) -> dict[str, str]:
    """The text of each file that has a diagnostic, for the caret display."""
    texts: dict[str, str] = {}
    for d in diags:
        if d.span.file not in texts:
            try:
                texts[d.span.file] = Path(d.span.file).read_text()
            except (OSError, UnicodeDecodeError):
                pass
    return texts


def dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.span.file, d.span.line, d.span.column, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def check(paths: list[str | Path], config: str | Path | None = None) -> list[Diagnostic]:
    """Check playbooks (files or folders) against a project file; every problem found."""
    project = Project.load(config, Path(paths[0]) if paths else None)
    return check_project([Path(p) for p in paths], project).diagnostics


@dataclass
class CompileResult:
    plans: list  # list[Plan]
    check: CheckResult

    @property
    def ok(self) -> bool:
        return not self.check.errors


def compile_project(paths: list[Path], project: Project) -> CompileResult:
    """Check, then compile every playbook of the files named; no plans when any error."""
    from .compiler import compile_module

    result = check_project(paths, project)
    if result.errors:
        return CompileResult([], result)
    plans = [p for m in result.modules for p in compile_module(m, project.config)]
    return CompileResult(plans, result)


def compile(path: str | Path, config: str | Path | None = None):  # noqa: A001 - the API's name
    """Compile one file (or folder) to its plans; raises ValueError listing the errors."""
    project = Project.load(config, Path(path))
    res = compile_project([Path(path)], project)
    if not res.ok:
        raise ValueError("; ".join(f"{d.span.file}:{d.span.line}:{d.span.column}: {d.code} {d.message}"
                                   for d in res.check.errors))
    return res.plans
