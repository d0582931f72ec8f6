"""The `fsl` command (CLI.md): a thin layer over the library API.

Exit codes everywhere: 0 success, 1 the command ran and found problems,
2 bad usage or unreadable input.  JSON goes to stdout alone; human text and
progress go to stderr.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .diagnostics.emit import FORMATS, emit

CONFIG_OPTION = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             help="the project file (default: the nearest fsl.yaml above the current folder)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fsl")
def main() -> None:
    """FSL, the Follow-up Sequence Language."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="fail on warnings too")
@CONFIG_OPTION
def check(paths: tuple[Path, ...], fmt: str, strict: bool, config_path: str | None) -> None:
    """Parse, resolve, type-check and lint playbooks."""
    from .api import check_project
    from .project import Project

    project = Project.load(config_path, paths[0] if paths else None)
    result = check_project(list(paths), project)
    color = fmt == "text" and sys.stdout.isatty()
    out = emit(fmt, result.diagnostics, result.sources, result.files, color=color)
    click.echo(out, nl=not out.endswith("\n"))
    failed = bool(result.errors) or (strict and bool(result.warnings))
    sys.exit(1 if failed else 0)



def _report_errors(result, err=True) -> None:
    out = emit("text", result.diagnostics, result.sources, result.files)
    click.echo(out, err=err, nl=not out.endswith("\n"))


@main.command("compile")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="write the plan here (default: stdout)")
@CONFIG_OPTION
def compile_cmd(path: Path, output: Path | None, config_path: str | None) -> None:
    """Write the plan of a playbook file as deterministic JSON."""
    from .api import compile_project
    from .compiler import plan_json
    from .project import Project

    if not path.exists():
        click.echo(f"fsl compile: no such file or folder: {path}", err=True)
        sys.exit(2)
    project = Project.load(config_path, path)
    res = compile_project([path], project)
    if not res.ok:
        _report_errors(res.check)
        sys.exit(1)
    if not res.plans:
        click.echo(f"fsl compile: no playbook in {path}", err=True)
        sys.exit(1)
    text = plan_json(res.plans)
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
