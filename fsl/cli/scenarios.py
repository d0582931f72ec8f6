"""`fsl simulate` and `fsl test` (CLI.md); fsl/cli/main.py registers them.

Exit codes: 0 success, 1 failed expectations (`test`), 2 bad usage or an
unreadable or invalid scenario.  `simulate --format json` prints JSON alone
on stdout; warnings also go to stderr as text.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fsl.simulator.scenario import ScenarioError, load_scenario


@click.command("simulate")
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def simulate_command(scenario: Path, fmt: str) -> None:
    """Run a scenario on a virtual clock and print every action."""
    from fsl.simulator.timeline import timeline
    from fsl.simulator.simulate import simulate, to_json

    try:
        scn = load_scenario(scenario)
    except ScenarioError as exc:
        click.echo(f"fsl simulate: {exc}", err=True)
        sys.exit(2)
    sim = simulate(scn)
    if fmt == "json":
        click.echo(json.dumps(to_json(sim), indent=2))
        for _at, message, line in sim.warnings():
            click.echo(f"warning: {scenario}" + (f":{line}" if line else "") + f": {message}", err=True)
    else:
        click.echo(timeline(sim), nl=False)
    sys.exit(0)


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def test_command(paths: tuple[Path, ...], fmt: str) -> None:
    """Run the `expect:` of scenario files; report pass/fail per scenario."""
    from fsl.simulator.expect import run_tests

    sys.exit(run_tests(list(paths) or [Path.cwd()], fmt))
