"""`fsl status`, `fsl explain`, `fsl tasks` (CLI.md "Running": see what happens and why).

All three read one consistent snapshot of the store (fsl/store/queries.py)
and never wait for a running tick.  Text goes to stdout as tables; with
`--format json`, JSON alone.  Exit 2 for bad input (an unknown contact or
task id, a malformed instant), 0 otherwise.
"""
from __future__ import annotations

import sys
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import click

from .common import CONFIG_OPTION, FORMAT_OPTION, NOW_OPTION, console, fail, open_runtime, parse_now, print_json

UTC = timezone.utc


# ------------------------------------------------------------------ status

@click.command("status")
@FORMAT_OPTION
@NOW_OPTION
@CONFIG_OPTION
def status_command(fmt: str, now_text: str | None, config_path: str | None) -> None:
    """Per playbook: enrolled, ended by outcome, due now, outbox backlog, failures."""
    from fsl.store.queries import status, unknown_events

    now = parse_now(now_text) or datetime.now(UTC)
    rt = open_runtime(config_path)
    try:
        with rt.db.read() as conn:
            data = status(conn, now)
            data["unknown_event_list"] = unknown_events(conn, 10) if data["unknown_events"] else []
    finally:
        rt.close()
    if fmt == "json":
        print_json(data)
        return
    _print_status(data)


def _print_status(data: dict) -> None:
    from rich.table import Table

    out = console()
    table = Table(title=f"fsl status at {data['now']} (store clock {data['clock'] or 'not started'})",
                  title_justify="left")
    for col in ("playbook", "active", "waiting", "paused", "ended (by outcome)", "due now", "outbox", "failed"):
        table.add_column(col, justify="left" if col in ("playbook", "ended (by outcome)") else "right")
    for b in data["playbooks"]:
        ended = ", ".join(f"{k} {v}" for k, v in sorted(b["ended"].items())) or "-"
        box = b["outbox"]
        outbox = f"{box['pending']}" + (f" (+{box['sending']} sending)" if box["sending"] else "")
        table.add_row(b["playbook"], str(b["active"]), str(b["waiting"]), str(b["paused"]), ended,
                      str(b["due_now"]), outbox, str(b["failed"]))
    out.print(table)
    out.print(f"pending events: {data['pending_events']}   open tasks: {data['open_tasks']}")
    if data["unknown_events"]:
        out.print("events kept but not understood: " +
                  ", ".join(f"{n} {flag.replace('_', ' ')}" for flag, n in data["unknown_events"].items()))
        for e in data["unknown_event_list"]:
            out.print(f"  {e['at']} {e['type']} contact={e['contact']} deal={e['deal']} step={e['step']}: {e['flag']}")
    if data["recent_failures"]:
        out.print("recent delivery failures:")
        for f in data["recent_failures"]:
            out.print(f"  {f['at']} {f['contact']} {f['playbook']}/{f['step']} via {f['channel']} "
                      f"after {f['attempts']} attempt(s): {f['error']}")
    last = data["last_tick"]
    if last is not None:
        rep = last["report"] or {}
        out.print(f"last tick: to {last['now']}, started {last['started_at']}, "
                  f"{'finished ' + last['finished_at'] if last['finished_at'] else 'not finished'}"
                  + (f", {rep.get('steps', 0)} step(s), {rep.get('delivered', 0)} delivered" if rep else ""))


# ------------------------------------------------------------------ explain

@click.command("explain")
@click.argument("contact")
@click.option("--playbook", help="only this playbook's enrollments")
@FORMAT_OPTION
@CONFIG_OPTION
def explain_command(contact: str, playbook: str | None, fmt: str, config_path: str | None) -> None:
    """The journal of decisions about a contact, with reasons and the plan's source lines."""
    from fsl.store.queries import explain

    rt = open_runtime(config_path)
    try:
        with rt.db.read() as conn:
            data = explain(conn, contact, playbook)
    finally:
        rt.close()
    if data is None:
        fail(f"fsl explain: unknown contact {contact}")
    if playbook is not None and not data["enrollments"] and fmt != "json":
        click.echo(f"{contact} has never been enrolled in {playbook}")
    if fmt == "json":
        print_json(data)
        return
    _print_explain(data)


def _print_explain(data: dict) -> None:
    from rich.table import Table

    out = console()
    if not data["known"]:
        out.print(f"{data['contact']} is not a known contact (events about it were kept and reported)")
    for en in data["enrollments"]:
        if en["status"] == "ended":
            state = f"ended as {en['outcome']} at {en['ended_at']}: {en['reason']}"
        else:
            state = f"{en['status']}, next due {en['next_due']}"
        title = (f"{en['playbook']} (enrollment {en['enrollment']}"
                 + (f", deal {en['deal']}" if en["deal"] else "") + f", plan {en['plan'][:19]}) "
                 f"started {en['started_at']}; {state}")
        table = Table(title=title, title_justify="left")
        for col in ("at", "decision", "step", "why", "source"):
            table.add_column(col)
        for j in en["journal"]:
            src = j.get("source")
            where = f"{src['file'] or ''}:{src['line']}  {src['text']}" if src else (f"line {j['line']}" if j["line"] else "")
            table.add_row(j["at"], j["kind"], j["step"] or "", j["reason"], where)
        out.print(table)
        if en["messages"]:
            for m in en["messages"]:
                what = f"{m['kind']} {m['channel'] or ''} {m['template'] or ''}".strip()
                extra = f" ({m['error']})" if m["error"] and m["status"] != "delivered" else ""
                out.print(f"  {m['at']} {m['step']}: {what} -> {m['status']}, {m['attempts']} attempt(s){extra}")
    if data["contact_journal"]:
        table = Table(title="about the contact (no enrollment)", title_justify="left")
        for col in ("at", "what", "why"):
            table.add_column(col)
        for j in data["contact_journal"]:
            table.add_row(j["at"], j["kind"], j["reason"])
        out.print(table)


# ------------------------------------------------------------------ tasks

@click.group("tasks", invoke_without_command=True)
@click.option("--owner", help="only tasks assigned to this person (name or address)")
@click.option("--due", type=click.Choice(["today", "all"]), default="all", show_default=True,
              help="today: due by the end of today (project time zone), overdue included")
@click.option("--all", "include_done", is_flag=True, help="include tasks already done")
@FORMAT_OPTION
@NOW_OPTION
@CONFIG_OPTION
@click.pass_context
def tasks_command(ctx: click.Context, owner: str | None, due: str, include_done: bool, fmt: str,
                  now_text: str | None, config_path: str | None) -> None:
    """The to-do list: calls, LinkedIn touches, escalations; `fsl tasks done ID` ticks one off."""
    if ctx.invoked_subcommand is not None:
        return
    from fsl.store.queries import open_tasks

    now = parse_now(now_text) or datetime.now(UTC)
    rt = open_runtime(config_path)
    try:
        before = _end_of_day(now, rt.config.timezone) if due == "today" else None
        with rt.db.read() as conn:
            items = open_tasks(conn, owner, before, include_done)
    finally:
        rt.close()
    if fmt == "json":
        print_json({"now": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "tasks": items})
        return
    _print_tasks(items, now)


def _end_of_day(now: datetime, zone_name: str) -> datetime:
    try:
        zone = ZoneInfo(zone_name)
    except Exception:  # noqa: BLE001 - the config validated it; UTC as a fallback
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(), zone)
    return end.astimezone(UTC) - timedelta(seconds=1)


def _print_tasks(items: list[dict], now: datetime) -> None:
    from rich.table import Table

    out = console()
    if not items:
        out.print("no open tasks")
        return
    table = Table(title=f"{len(items)} task(s)", title_justify="left")
    for col in ("id", "due", "kind", "for", "contact", "from", "task"):
        table.add_column(col)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for t in items:
        due = t["due"] + (" (overdue)" if t["status"] == "open" and t["due"] < stamp else "")
        if t["status"] == "done":
            due += " done"
        text = t["text"] if not t["subject"] else f"{t['subject']}: {t['text']}"
        table.add_row(str(t["id"]), due, t["kind"], t["assignee"] or "", t["contact"],
                      f"{t['playbook']}/{t['step']}", text)
    out.print(table)


@tasks_command.command("done")
@click.argument("task_id", metavar="ID", type=int)
@FORMAT_OPTION
@NOW_OPTION
@CONFIG_OPTION
def tasks_done(task_id: int, fmt: str, now_text: str | None, config_path: str | None) -> None:
    """Mark a task done (and record a `task_completed` event for its contact)."""
    from fsl.engine.model import Event
    from fsl.store.queries import get_task, mark_done

    now = parse_now(now_text) or datetime.now(UTC)
    rt = open_runtime(config_path)
    try:
        with rt.db.write() as conn:
            task = get_task(conn, task_id)
            changed = task is not None and mark_done(conn, task_id, now)
        if task is None:
            fail(f"fsl tasks done: no task {task_id}")
        if changed:
            rt.record_events([Event(now, "task_completed", task["contact"], task["deal"], None,
                                    {"task": task_id, "kind": task["kind"], "playbook": task["playbook"],
                                     "step": task["step"]})])
        with rt.db.read() as conn:
            task = get_task(conn, task_id)
    finally:
        rt.close()
    if fmt == "json":
        print_json({"task": task, "changed": changed})
    else:
        click.echo(f"task {task_id} " + ("done" if changed else f"was already done ({task['done_at']})"))
    sys.exit(0)
