"""`fsl demo`: the example playbooks on sample data, 30 simulated days, in a folder.

Prints a day-by-day timeline and a per-playbook summary (rich tables; a
progress bar on stderr while the days run).  With `--format json` the same
figures are printed as JSON alone.  Exit 2 when the folder cannot be used.
"""
from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import FORMAT_OPTION, console, fail, parse_now, print_json

if TYPE_CHECKING:  # rich.progress is imported only when a bar is shown
    from rich.progress import Progress

UTC = timezone.utc
TIMELINE_COLUMNS = [("enrolled", "enrolled"), ("email", "email"), ("sms", "sms"), ("tasks", "tasks"),
                    ("notify", "notify"), ("opened", "opens"), ("clicked", "clicks"), ("replied", "replies"),
                    ("meeting_booked", "meetings"), ("purchased", "purchases"), ("unsubscribed", "unsubs"),
                    ("bounced", "bounces"), ("ended", "ended")]


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("fsl-demo"),
              show_default=True, help="the folder to make (replaced if an earlier demo made it)")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True, help="simulated days")
@click.option("--seed", type=int, default=7, show_default=True, help="the same seed, the same story")
@click.option("--start", "start_text", metavar="ISO", help="the first simulated instant (default 2026-11-09T06:00:00Z)")
@click.option("--tick-minutes", type=click.IntRange(5, 24 * 60), default=60, show_default=True,
              help="simulated minutes between ticks")
@FORMAT_OPTION
def demo_command(out: Path, days: int, seed: int, start_text: str | None, tick_minutes: int, fmt: str) -> None:
    """Run the example playbooks on sample contacts for N simulated days."""
    from fsl.demo.run import DEFAULT_START, DemoError, run

    start = parse_now(start_text, "--start") or DEFAULT_START
    out = out.resolve()
    with _days_progress(fmt == "text", days) as progress:
        try:
            result = run(out, days=days, seed=seed, start=start, tick_minutes=tick_minutes, progress=progress)
        except DemoError as exc:
            fail(f"fsl demo: {exc}")
    if fmt == "json":
        print_json(result.to_json())
        return
    _print(result)


class _days_progress:
    def __init__(self, enabled: bool, days: int) -> None:
        import sys

        self.enabled = enabled and sys.stderr.isatty()
        self.days = days
        self.bar: Progress | None = None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = self.bar = Progress(TextColumn("simulated days"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.description}"), TimeElapsedColumn(), console=console(err=True),
                                  transient=True)
        bar.__enter__()
        task = bar.add_task("", total=self.days)

        def update(day: int, total: int, report: dict) -> None:
            bar.update(task, completed=day,
                       description=f"{report.get('steps', 0)} steps, {report.get('delivered', 0)} delivered")

        return update

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _print(result) -> None:
    from rich.table import Table

    out = console()
    table = Table(title=f"timeline: {result.days} simulated days from {result.start:%Y-%m-%d} "
                        f"(local days in the project's time zone)", title_justify="left")
    table.add_column("day")
    for _, label in TIMELINE_COLUMNS:
        table.add_column(label, justify="right")
    for row in result.timeline:
        table.add_row(row["day"], *[str(row.get(key, "")) or "" for key, _ in TIMELINE_COLUMNS])
    out.print(table)
    summary = Table(title="summary per playbook", title_justify="left")
    for col in ("playbook", "enrolled", "active", "sends by channel", "tasks", "notifications", "outcomes"):
        summary.add_column(col, justify="right" if col in ("enrolled", "active", "tasks", "notifications") else "left")
    for b in result.playbooks:
        sends = ", ".join(f"{ch} {n}" for ch, n in sorted(b["sends"].items())) or "-"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(b["outcomes"].items())) or "-"
        summary.add_row(b["playbook"], str(b["enrolled"]), str(b["active"]), sends, str(b["tasks"]),
                        str(b["notifications"]), outcomes)
    out.print(summary)
    d = result.deliveries
    files = ", ".join(f"{n} in outbox/{ch}/" for ch, n in sorted(result.files.items())) or "none"
    out.print(f"{result.contacts} contacts, {result.deals} deals, {result.ticks} ticks in {result.seconds:.1f}s; "
              f"deliveries: {d.get('delivered', 0)} delivered, {d.get('failed', 0)} failed, "
              f"{d.get('cancelled', 0)} cancelled, {d.get('pending', 0)} pending")
    out.print(f".eml files: {files}")
    out.print(f"explore: cd {result.out} && fsl status && fsl explain c001 && fsl tasks --due today "
              f"--now {result.end:%Y-%m-%dT%H:%M:%SZ}")
