"""`fsl report`: funnels, win-back rates and follow-up execution.

    fsl report [--since ISO] [--until ISO] [--playbook NAME]
               [--format text|json] [--html FILE] [--config PATH]
               [--scenario SCENARIO.yaml]

Tables on the terminal by default, JSON alone on stdout with `--format
json`, and with `--html FILE` one self-contained page with charts (then
nothing else is printed unless `--format` is given too).  The data is the
project's production store, or with `--scenario` a simulation of that
scenario (handy for authors: "what would this playbook's report look
like?").  Exit codes as everywhere: 0 done, 2 bad usage or data that cannot
be opened.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    from fsl.timecalc import parse_instant

    t = parse_instant(value)
    if t is None:
        raise click.BadParameter(f"{value!r} is not an instant; expected e.g. 2026-11-23 or 2026-11-23T14:00:00Z")
    return t


@click.command("report")
@click.option("--since", callback=_instant, metavar="ISO",
              help="from this instant (a date is its midnight, UTC); inclusive")
@click.option("--until", callback=_instant, metavar="ISO", help="up to this instant; exclusive")
@click.option("--playbook", metavar="NAME", help="only this playbook")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]),
              help="tables (default) or JSON on stdout")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="write a self-contained HTML page with charts")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="the project file (default: the nearest fsl.yaml above the current folder)")
@click.option("--scenario", type=click.Path(dir_okay=False, path_type=Path),
              help="report on a simulation of this scenario instead of the production store")
@click.option("--experiments", is_flag=True,
              help="each split's variants side by side, with 95%% intervals and the winner decision")
@click.option("--tz", "tz", metavar="ZONE",
              help="show instants in this IANA zone (default: the project's `timezone`); JSON stays UTC")
def report_command(since: datetime | None, until: datetime | None, playbook: str | None, fmt: str | None,
                   html_path: Path | None, config_path: str | None, scenario: Path | None,
                   tz: str | None, experiments: bool) -> None:
    """Funnels, win-back rates and follow-up execution, per playbook and step."""
    from fsl.report.compute import build_report
    from fsl.report.sources import SourceError, from_project, from_scenario

    if since is not None and until is not None and until <= since:
        click.echo("fsl report: --until must be after --since", err=True)
        sys.exit(2)
    from fsl.timecalc import get_zone

    if tz is not None and get_zone(tz) is None:
        click.echo(f"fsl report: --tz: unknown time zone {tz!r}; expected an IANA name such as America/New_York",
                   err=True)
        sys.exit(2)
    try:
        src = from_scenario(scenario) if scenario is not None else from_project(config_path)
    except SourceError as exc:
        click.echo(f"fsl report: {exc}", err=True)
        sys.exit(2)
    try:
        with src.reading():
            report = build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config,
                                  since=since, until=until, playbook=playbook, source=src.label)
    finally:
        src.close()
    if html_path is not None:
        from fsl.report.html import render_html

        try:
            html_path.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            click.echo(f"fsl report: cannot write {html_path}: {exc.strerror or exc}", err=True)
            sys.exit(2)
        click.echo(f"fsl report: wrote {html_path}", err=True)
    if fmt == "json":
        data = report.model_dump(mode="json")
        if experiments:  # the experiments section alone, with what says where it comes from
            data = {k: data[k] for k in ("source", "as_of", "since", "until", "playbook", "experiments", "notes")}
        click.echo(json.dumps(data, indent=2))
    elif fmt == "text" or html_path is None:
        from rich.console import Console

        from fsl.humantime import zone_of
        from fsl.report.terminal import render

        render(report, Console(file=sys.stdout, highlight=False),
               zone_of(tz, getattr(src.config, "timezone", None)), experiments=experiments)
    sys.exit(0)
