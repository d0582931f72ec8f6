"""`fsl deploy`, `fsl tick`, `fsl worker`, `fsl db upgrade` (CLI.md "Running").

Exit codes: 0 success; 1 the command ran and found problems (playbooks that
do not compile, deliveries that failed in this tick); 2 bad usage or an
unusable project or store (no fsl.yaml, a schema newer than this fsl, ...).
"""
from __future__ import annotations

import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import click

from .common import CONFIG_OPTION, FORMAT_OPTION, NOW_OPTION, console, fail, open_runtime, parse_now, print_json, progress


# ------------------------------------------------------------------ deploy

@click.command("deploy")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--migrate", is_flag=True, help="move running enrollments to the new plans by step name")
@FORMAT_OPTION
@NOW_OPTION
@CONFIG_OPTION
def deploy_command(paths: tuple[Path, ...], migrate: bool, fmt: str, now_text: str | None,
                   config_path: str | None) -> None:
    """Compile playbooks and register their plans in the store."""
    from fsl.runtime.deploy import DeployError, deploy

    for p in paths:
        if not p.exists():
            fail(f"fsl deploy: no such file or folder: {p}")
    now = parse_now(now_text)
    rt = open_runtime(config_path)
    try:
        with progress(fmt == "text", "deploying") as bar:
            report = deploy(rt, list(paths), migrate=migrate, now=now, progress=bar)
    except DeployError as exc:
        if exc.text:
            click.echo(exc.text, err=True, nl=not exc.text.endswith("\n"))
        fail(f"fsl deploy: {exc}", 1)
    finally:
        rt.close()
    if fmt == "json":
        print_json(report.to_json())
        return
    _print_deploy(report, migrate)


def _print_deploy(report, migrate: bool) -> None:
    from rich.table import Table

    out = console()
    table = Table(title="deployed", title_justify="left")
    for col in ("playbook", "status", "plan", "file"):
        table.add_column(col)
    for p in report.playbooks:
        table.add_row(p["playbook"], p["status"], p["hash"][:19], p["file"] or "")
    out.print(table)
    if report.checks:
        out.print(f"`enroll when` checks scheduled for {report.checks} contact(s)")
    if migrate:
        moved = sum(report.migrated.values())
        out.print(f"migrated {moved} running enrollment(s) to the new plans")
        if report.unmovable:
            t = Table(title=f"{len(report.unmovable)} enrollment(s) could not move (they stay on their plan)",
                      title_justify="left")
            for col in ("enrollment", "contact", "playbook", "step", "reason"):
                t.add_column(col)
            for u in report.unmovable:
                t.add_row(str(u["enrollment"]), u["contact"], u["playbook"], str(u["step"]), u["reason"])
            out.print(t)


# ------------------------------------------------------------------ tick

@click.command("tick")
@NOW_OPTION
@click.option("--no-deliver", is_flag=True, help="decide and record, but hand nothing to channels")
@click.option("--batch", type=click.IntRange(1, 100_000), default=500, show_default=True, hidden=True)
@FORMAT_OPTION
@CONFIG_OPTION
def tick_command(now_text: str | None, no_deliver: bool, batch: int, fmt: str, config_path: str | None) -> None:
    """One pass: ingest events, enroll, run every due step, deliver the outbox."""
    now = parse_now(now_text)
    rt = open_runtime(config_path, batch_size=batch)
    stop = _Stop()
    stop.install()
    try:
        with progress(fmt == "text", "tick") as bar:
            report = rt.tick(now, deliver=not no_deliver, stop=stop, progress=bar)
    finally:
        rt.close()
    if fmt == "json":
        print_json(report.to_json())
    else:
        _print_tick(report)
    sys.exit(1 if report.failed else 0)


def _print_tick(report, prefix: str = "") -> None:
    acts = ", ".join(f"{n} {k}" for k, n in sorted(report.actions.items())) or "no actions"
    line = (f"{prefix}tick {report.now}: {report.instants} instant(s), {report.events} event(s), "
            f"{report.steps} step(s), {acts}; delivered {report.delivered}, retry {report.retried}, "
            f"failed {report.failed}")
    if report.held:
        line += f", {report.held} held for review (`fsl review`)"
    if report.recovered:
        line += f", {report.recovered} taken back after an interrupted delivery"
    line += f" ({report.seconds:.2f}s)" + (" [interrupted]" if report.interrupted else "")
    click.echo(line)
    dp = report.delivery_process or {}
    if dp.get("error"):  # nothing is lost (its rows were taken back), but it should not happen
        click.echo(f"  the delivery process failed: {dp['error'].strip().splitlines()[-1]}; "
                   f"{dp.get('taken_back', 0)} message(s) taken back from it")
    for f in report.failures:
        click.echo(f"  failed: {f['contact']} {f['playbook']}/{f['step']} via {f['channel']}: {f['error']}")


class _Stop:
    """SIGTERM / SIGINT: finish the current batch, then stop."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self) -> bool:
        return self.requested

    def install(self) -> None:
        def handler(signum, _frame) -> None:
            self.requested = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.requested and time.monotonic() < end:
            time.sleep(min(0.2, max(0.0, end - time.monotonic())))


# ------------------------------------------------------------------ worker

@click.command("worker")
@click.option("--schedule", default="* * * * *", show_default=True, metavar="CRON",
              help="when to tick (cron, UTC)")
@click.option("--run-now", is_flag=True, help="tick once at start, then on the schedule")
@click.option("--max-ticks", type=click.IntRange(1), default=None, hidden=True)
@click.option("--batch", type=click.IntRange(1, 100_000), default=500, show_default=True, hidden=True)
@CONFIG_OPTION
def worker_command(schedule: str, run_now: bool, max_ticks: int | None, batch: int,
                   config_path: str | None) -> None:
    """Tick on a schedule until stopped; SIGTERM finishes the current batch and exits."""
    from croniter import croniter

    if not croniter.is_valid(schedule):
        fail(f"fsl worker: --schedule {schedule!r} is not a cron expression (e.g. '* * * * *')")
    rt = open_runtime(config_path, batch_size=batch)
    stop = _Stop()
    stop.install()
    ticks = 0
    click.echo(f"fsl worker: ticking on '{schedule}' (UTC); SIGTERM stops after the current batch", err=True)
    inbox = None
    if rt.config.inbox is not None:  # SIGNALS.md 3: the worker reads the inbox on each tick
        from fsl.inbox.reader import Reader

        inbox = Reader(rt, rt.config.inbox)
    try:
        due = datetime.now(timezone.utc) if run_now else None
        while not stop():
            if due is None:
                due = croniter(schedule, datetime.now(timezone.utc)).get_next(datetime)
            stop.sleep((due - datetime.now(timezone.utc)).total_seconds())
            if stop():
                break
            try:
                report = rt.tick(None, stop=stop)
            except Exception as exc:  # noqa: BLE001 - a worker outlives one bad tick (a locked or lost store)
                click.echo(f"worker: tick failed: {type(exc).__name__}: {exc}; trying again at the next time",
                           err=True)
            else:
                _print_tick(report, "worker: ")
            if inbox is not None:
                _read_inbox(inbox)
            sys.stdout.flush()
            ticks += 1
            due = None
            if max_ticks is not None and ticks >= max_ticks:
                break
    finally:
        if inbox is not None:
            inbox.close()
        rt.close()
    click.echo(f"fsl worker: stopped after {ticks} tick(s)", err=True)


def _read_inbox(reader) -> None:
    """One read of the inbox; a server that cannot be reached is reported and the tick goes on
    (the next tick tries again)."""
    from fsl.inbox.reader import InboxError

    try:
        report = reader.read_once()
    except InboxError as exc:
        click.echo(f"worker: inbox: {exc}; trying again at the next tick", err=True)
        return
    if report.read or report.errors:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(report.labels.items()))
        click.echo(f"worker: inbox: read {report.read} ({labels}), {report.unmatched} unmatched")
    for error in report.errors:
        click.echo(f"worker: inbox: {error}", err=True)


# ------------------------------------------------------------------ db

@click.group("db")
def db_command() -> None:
    """The store's schema."""


@db_command.command("upgrade")
@FORMAT_OPTION
@CONFIG_OPTION
def db_upgrade(fmt: str, config_path: str | None) -> None:
    """Create the schema, or apply the migrations it lacks."""
    import os

    from fsl.project import Project
    from fsl.store import Database, StoreError, redact, upgrade

    project = Project.load(config_path, Path.cwd())
    if project.config is None:
        fail("fsl db upgrade: no fsl.yaml found; pass --config PATH")
    url = os.environ.get("FSL_STORE") or project.config.store
    try:
        db = Database(url)
        try:
            before, after, ran = upgrade(db)
        finally:
            db.dispose()
    except StoreError as exc:
        fail(f"fsl db upgrade: {exc}")
    except Exception as exc:  # noqa: BLE001 - unreachable server, unreadable file
        fail(redact(f"fsl db upgrade: cannot open the store: {type(exc).__name__}: {exc}", url))
    if fmt == "json":
        print_json({"before": before, "after": after,
                    "migrations": [{"version": m.version, "description": m.description} for m in ran]})
        return
    if before is None:
        click.echo(f"created the store schema, version {after}")
    elif not ran:
        click.echo(f"the store schema is up to date (version {after})")
    else:
        for m in ran:
            click.echo(f"applied migration {m.version}: {m.description}")
        click.echo(f"the store schema went from version {before} to {after}")


@db_command.command("version")
@CONFIG_OPTION
def db_version(config_path: str | None) -> None:
    """Print the store's schema version and the one this fsl knows."""
    import os

    from fsl.project import Project
    from fsl.store import Database, StoreError, redact, schema_version
    from fsl.store.migrations import current_version

    project = Project.load(config_path, Path.cwd())
    if project.config is None:
        fail("fsl db version: no fsl.yaml found; pass --config PATH")
    url = os.environ.get("FSL_STORE") or project.config.store
    try:
        db = Database(url)
        try:
            with db.read() as conn:
                version = current_version(conn)
        finally:
            db.dispose()
    except StoreError as exc:
        fail(f"fsl db version: {exc}")
    except Exception as exc:  # noqa: BLE001 - unreachable server, unreadable file
        fail(redact(f"fsl db version: cannot open the store: {type(exc).__name__}: {exc}", url))
    click.echo(f"store: {version if version is not None else 'no schema'}; this fsl: {schema_version()}")
