"""`fsl outbox retry ID...|--failed`: failed messages back in the queue after a fix.

What is re-queued and what is left alone, and why: fsl/runtime/requeue.py.
Exit 0 when everything named was re-queued (or `--failed` found nothing to
do), 1 when a message named by id was left alone, 2 for bad usage or an id
that names no outbox message.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from fsl.cli.common import CONFIG_OPTION, FORMAT_OPTION, NOW_OPTION, fail, open_runtime, parse_now, print_json


@click.group("outbox")
def outbox_command() -> None:
    """The outbox of messages on their way to channels."""


@outbox_command.command("retry")
@click.argument("ids", nargs=-1, metavar="[ID|KEY]...")
@click.option("--failed", "all_failed", is_flag=True, help="every failed message (hard bounces excepted)")
@FORMAT_OPTION
@NOW_OPTION
@CONFIG_OPTION
def outbox_retry(ids: tuple[str, ...], all_failed: bool, fmt: str, now_text: str | None,
                 config_path: str | None) -> None:
    """Re-queue failed messages (same idempotency key: nothing is sent twice); the next tick hands them over."""
    from fsl.runtime.requeue import requeue

    if bool(ids) == all_failed:
        fail("fsl outbox retry: name message ids (or keys) or give --failed, not both")
    now = parse_now(now_text) or datetime.now(timezone.utc)
    rt = open_runtime(config_path)
    try:
        result = requeue(rt.db, list(ids), all_failed, now)
    finally:
        rt.close()
    if fmt == "json":
        print_json({"requeued": result.requeued, "skipped": result.skipped, "unknown": result.unknown})
    else:
        for r in result.requeued:
            click.echo(f"re-queued #{r['id']} {r['contact']} {r['playbook']}/{r['step']} ({r['key']})")
        for r in result.skipped:
            click.echo(f"left #{r['id']} {r['contact']} {r['playbook']}/{r['step']}: {r['reason']}")
        for w in result.unknown:
            click.echo(f"fsl outbox retry: no outbox message {w}", err=True)
        if all_failed and not result.requeued and not result.skipped:
            click.echo("no failed messages")
    sys.exit(2 if result.unknown else 1 if result.skipped and not all_failed else 0)
