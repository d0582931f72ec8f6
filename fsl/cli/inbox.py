"""`fsl inbox`: read the configured mailbox and record what arrived (SIGNALS.md 3)."""
from __future__ import annotations

import json
import sys

import click

from .common import CONFIG_OPTION, FORMAT_OPTION, fail, open_runtime


@click.command("inbox")
@click.option("--once", is_flag=True, help="read what is new, then exit (otherwise keep reading, in IDLE, until SIGTERM)")
@click.option("--unmatched", "show_unmatched", is_flag=True,
              help="list the mail kept as unmatched (newest first) instead of reading")
@FORMAT_OPTION
@CONFIG_OPTION
def inbox_command(once: bool, show_unmatched: bool, fmt: str, config_path: str | None) -> None:
    """Read the configured mailbox and record what arrived (`fsl worker` does this on each tick too)."""
    rt = open_runtime(config_path)
    try:
        if show_unmatched:
            _unmatched(rt, fmt)
            return
        settings = rt.config.inbox
        if settings is None:
            fail("fsl inbox: fsl.yaml has no `inbox:` (the IMAP mailbox of replies); see CONFIG.md")
        from fsl.inbox.reader import InboxError, Reader, retry_wait

        from .run import _Stop

        reader = Reader(rt, settings)
        stop = _Stop()
        stop.install()
        failures = 0
        try:
            while not stop():
                try:
                    report = reader.read_once()
                except InboxError as exc:
                    failures += 1
                    if once:
                        fail(f"fsl inbox: {exc}", 1)
                    wait = retry_wait(failures)
                    click.echo(f"fsl inbox: {exc}; trying again in {wait:.0f}s", err=True)
                    stop.sleep(wait)
                    continue
                failures = 0
                _print(report, fmt if once else "text")
                if once:
                    if report.errors:
                        sys.exit(1)
                    return
                try:
                    reader.wait(settings.idle, stop)
                except Exception as exc:  # noqa: BLE001 - a dropped IDLE: reconnect on the next read
                    click.echo(f"fsl inbox: waiting for mail: {type(exc).__name__}", err=True)
                    reader.close()
        finally:
            reader.close()
    finally:
        rt.close()


def _print(report, fmt: str) -> None:
    data = {"read": report.read, "matched": report.matched, "unmatched": report.unmatched,
            "events": report.events, "labels": report.labels, "errors": report.errors}
    if fmt == "json":
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    labels = ", ".join(f"{k} {v}" for k, v in sorted(report.labels.items())) or "nothing new"
    click.echo(f"inbox: read {report.read} ({labels}); {report.matched} matched, {report.unmatched} unmatched, "
               f"{report.events} event(s)")
    for error in report.errors:
        click.echo(f"inbox: {error}", err=True)
    sys.stdout.flush()


def _unmatched(rt, fmt: str) -> None:
    from fsl.inbox.state import unmatched_rows

    with rt.db.read() as conn:
        rows = unmatched_rows(conn)
    if fmt == "json":
        click.echo(json.dumps({"unmatched": rows}, ensure_ascii=False))
        return
    if not rows:
        click.echo("no unmatched mail")
        return
    for r in rows:
        click.echo(f"{r['at']}  {r['label']:<20} {r['from'] or '-':<32} {r['subject'] or ''}")
