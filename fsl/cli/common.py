"""What the commands share: options, opening the runtime with the right exit
code, and output (rich on a terminal, JSON alone on stdout with `--format json`,
progress on stderr)."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterator, NoReturn

import click

CONFIG_OPTION = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                             help="the project file (default: the nearest fsl.yaml above the current folder)")
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                             show_default=True, help="json: JSON alone on stdout")
NOW_OPTION = click.option("--now", "now_text", metavar="ISO",
                          help="the instant to act at, e.g. 2026-11-23T14:05:00Z (default: the wall clock)")

TZ_OPTION = click.option("--tz", "tz", metavar="ZONE",
                         help="show instants in this IANA zone (default: the project's `timezone`; "
                              "explain: the contact's); JSON stays UTC")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print to stderr and exit (2: bad usage or unreadable input)."""
    click.echo(message, err=True)
    sys.exit(code)


def parse_now(value: str | None, option: str = "--now") -> datetime | None:
    from fsl.timecalc import parse_instant

    if value is None:
        return None
    t = parse_instant(value)
    if t is None:
        fail(f"{option}: {value!r} is not an instant; expected e.g. 2026-11-23T14:05:00Z")
    return t


def display_zone(tz: str | None, *fallbacks: object):
    """The zone human output shows instants in: `--tz` (exit 2 when it is no
    zone), else the first valid of `fallbacks` (a contact's, the project's), else UTC."""
    from fsl.humantime import zone_of
    from fsl.timecalc import get_zone

    if tz is not None and get_zone(tz) is None:
        fail(f"--tz: unknown time zone {tz!r}; expected an IANA name such as America/New_York")
    return zone_of(tz, *fallbacks)


def open_runtime(config_path: str | None, **kwargs: Any):
    """The project's runtime, or exit 2 with the reason."""
    from fsl.runtime.runtime import OpsError, Runtime

    try:
        return Runtime.open(config_path, **kwargs)
    except OpsError as exc:
        fail(f"fsl: {exc}")


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in user data: escaped, the same JSON to any reader
        text = json.dumps(data, indent=2, ensure_ascii=True, default=str)
    click.echo(text)


def console(err: bool = False):
    """A rich console; wide enough not to wrap tables when writing to a file or pipe."""
    from rich.console import Console

    stream = sys.stderr if err else sys.stdout
    tty = stream.isatty()
    return Console(file=stream, width=None if tty else 160, no_color=not tty, highlight=False,
                   soft_wrap=not tty)


@contextmanager
def progress(enabled: bool, label: str) -> Iterator[Callable[[str, int], None] | None]:
    """A progress display on stderr when it is a terminal; else no callback."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    counts: dict[str, int] = {}
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console(err=True), transient=True) as bar:
        task = bar.add_task(label)

        def update(kind: str, n: int) -> None:
            counts[kind] = counts.get(kind, 0) + n
            bar.update(task, description=label + ": " + ", ".join(f"{v} {k}" for k, v in counts.items()))

        yield update
