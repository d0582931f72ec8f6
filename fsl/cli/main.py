"""The `fsl` command (CLI.md): a thin layer over the library API.

Exit codes everywhere: 0 success, 1 the command ran and found problems,
2 bad usage or unreadable input.  JSON goes to stdout alone; human text and
progress go to stderr.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from fsl import __version__
from fsl.diagnostics.emit import FORMATS, emit

CONFIG_OPTION = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             help="the project file (default: the nearest fsl.yaml above the current folder)")


class LazyGroup(click.Group):
    """Commands of other packages load on first use, so `fsl check` starts fast."""

    LAZY = {
        "simulate": "fsl.cli.scenarios:simulate_command",
        "test": "fsl.cli.scenarios:test_command",
        # the production runtime (fsl/runtime/): one module per family of commands
        "deploy": "fsl.cli.run:deploy_command",
        "tick": "fsl.cli.run:tick_command",
        "worker": "fsl.cli.run:worker_command",
        "serve": "fsl.cli.serve:serve_command",
        "inbox": "fsl.cli.inbox:inbox_command",
        "db": "fsl.cli.run:db_command",
        "contacts": "fsl.cli.data:contacts_command",
        "deals": "fsl.cli.data:deals_command",
        "event": "fsl.cli.data:event_command",
        "events": "fsl.cli.data:events_command",
        "enroll": "fsl.cli.data:enroll_command",
        "status": "fsl.cli.observe:status_command",
        "explain": "fsl.cli.observe:explain_command",
        "tasks": "fsl.cli.observe:tasks_command",
        "outbox": "fsl.cli.outbox:outbox_command",
        "demo": "fsl.cli.demo:demo_command",
        "review": "fsl.cli.review:review_command",
        "render": "fsl.cli.review:render_command",
        "report": "fsl.cli.report:report_command",
        "lsp": "fsl.cli.lsp:lsp_command",
        "users": "fsl.cli.users:users_command",
    }

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx, name):
        if name in self.LAZY and name not in self.commands:
            import importlib

            module, attr = self.LAZY[name].split(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as e:  # keep the other commands usable
                if ctx.resilient_parsing or ctx.invoked_subcommand is None and name not in sys.argv:
                    return None  # listing commands for --help: skip a part not built yet
                click.echo(f"fsl: the `{name}` command cannot load: {e}", err=True)
                return None
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    from fsl.api import check_project
    from fsl.project import Project

    project = Project.load(config_path, paths[0] if paths else None)
    result = check_project(list(paths), project, keep_modules=False)
    color = fmt == "text" and sys.stdout.isatty()
    diags = result.diagnostics
    if fmt in ("github", "sarif"):  # CI resolves these against the repository root
        from fsl.diagnostics.paths import git_root, rebase_on_root

        root = git_root(Path.cwd())
        if root is not None:
            diags = rebase_on_root(diags, root, Path.cwd())
    out = emit(fmt, diags, result.sources, result.files, color=color)
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
    from fsl.api import compile_project
    from fsl.compiler import plan_json
    from fsl.project import Project

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


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True)
@CONFIG_OPTION
def graph(path: Path, fmt: str, config_path: str | None) -> None:
    """Draw a playbook's steps and branches (Mermaid or Graphviz DOT)."""
    from fsl.api import compile_project
    from fsl.compiler import graph as g
    from fsl.project import Project

    if not path.exists():
        click.echo(f"fsl graph: no such file or folder: {path}", err=True)
        sys.exit(2)
    res = compile_project([path], Project.load(config_path, path))
    if not res.ok:
        _report_errors(res.check)
        sys.exit(1)
    click.echo((g.mermaid if fmt == "mermaid" else g.dot)(res.plans), nl=False)


@main.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="write nothing; exit 1 if any file would change")
@click.option("--diff", is_flag=True, help="print a unified diff; write nothing")
@CONFIG_OPTION
def fmt_cmd(paths: tuple[Path, ...], check: bool, diff: bool, config_path: str | None) -> None:
    """Rewrite playbooks to the canonical layout, keeping comments."""
    from fsl.fmt import fmt_paths
    from fsl.project import Project

    project = Project.load(config_path, paths[0] if paths else None)
    targets = list(paths)
    if not targets:
        if project.config is None:
            click.echo("fsl fmt: name files or folders, or run inside a project with an fsl.yaml", err=True)
            sys.exit(2)
        targets = [project.config.sequences]
    code, messages = fmt_paths(targets, check=check, diff=diff, config=project.config)
    for m in messages:
        click.echo(m, err=not m.startswith("--- "))
    sys.exit(code)
