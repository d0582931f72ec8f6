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

from fsl.timecalc import iso

from .common import CONFIG_OPTION, FORMAT_OPTION, NOW_OPTION, console, fail, open_runtime, parse_now, print_json
from fsl.humantime import local
from .common import TZ_OPTION
from .common import display_zone

UTC = timezone.utc


# ------------------------------------------------------------------ status

@click.command("status")
@FORMAT_OPTION
@NOW_OPTION
@TZ_OPTION
@CONFIG_OPTION
def status_command(fmt: str, now_text: str | None, tz: str | None, config_path: str | None) -> None:
    """Per playbook: enrolled, ended by outcome, due now, outbox backlog, failures."""
    from fsl.inbox.state import summary as inbox_summary
    from fsl.store.queries import status, unknown_events

    now = parse_now(now_text) or datetime.now(UTC)
    rt = open_runtime(config_path)
    try:
        with rt.db.read() as conn:
            data = status(conn, now)
            data["unknown_event_list"] = unknown_events(conn, 10) if data["unknown_events"] else []
            data["inbox"] = {"configured": rt.config.inbox is not None, **inbox_summary(conn)}
        project_zone = rt.config.timezone
    finally:
        rt.close()
    if fmt == "json":
        print_json(data)
        return
    _print_status(data, display_zone(tz, project_zone))


def _print_status(data: dict, zone) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    clock = local(data["clock"], zone) if data["clock"] else "not started"
    table = Table(title=f"fsl status at {local(data['now'], zone)} (store clock {clock})", title_justify="left")
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
            via = f" via {e['source']}" if e.get("source") else ""
            out.print(f"  {local(e['at'], zone)} {e['type']}{via} contact={e['contact']} deal={e['deal']} "
                      f"step={e['step']}: {e['flag']}", markup=False)
    if data["pending_retries"]:
        out.print(f"pending retries: {data['pending_retries']}")
        for r in data["retries"]:  # (server replies may hold [brackets]: not rich markup)
            out.print(escape(f"  #{r['id']} {r['contact']} {r['playbook']}/{r['step']} via {r['channel']}: "
                             f"{r['attempts']} attempt(s), next at {local(r['next_attempt'], zone)}; "
                             f"last: {r['reason']}"))
    if data["failed_enrollments"]:
        out.print("recent failed enrollments:")
        for en in data["failed_enrollments"]:
            out.print(f"  {en['ended_at']} enrollment {en['id']} {en['contact']} {en['playbook']}: {en['reason']}")
    if data["recent_failures"]:
        out.print("recent delivery failures (`fsl outbox retry ID|--failed` re-queues them):")
        for f in data["recent_failures"]:
            bounce = f", {f['bounce']} bounce" if f.get("bounce") else ""
            out.print(escape(f"  #{f['id']} {local(f['at'], zone)} {f['contact']} {f['playbook']}/{f['step']} "
                             f"via {f['channel']} after {f['attempts']} attempt(s){bounce}: {f['error']}"))
    if data["recent_warnings"]:
        out.print("recent warnings:")
        for w in data["recent_warnings"]:
            where = f"{w['playbook']}/{w['step']} line {w['line']}" if w["playbook"] else f"line {w['line']}"
            out.print(f"  {w['at']} {w['contact'] or '-'} {where}: {w['reason']}", markup=False)
    box = data.get("inbox") or {}
    if box.get("configured") or box.get("unmatched"):
        read = local(box["last_read"], zone) if box.get("last_read") else "never"
        out.print(f"inbox: last read {read}; {box.get('unmatched', 0)} unmatched message(s)"
                  + (" (`fsl inbox --unmatched` lists them)" if box.get("unmatched") else ""))
    last = data["last_tick"]
    if last is not None:
        rep = last["report"] or {}
        out.print(f"last tick: to {local(last['now'], zone)}, started {local(last['started_at'], zone)}, "
                  f"{'finished ' + local(last['finished_at'], zone) if last['finished_at'] else 'not finished'}"
                  + (f", {rep.get('steps', 0)} step(s), {rep.get('delivered', 0)} delivered" if rep else ""))


# ------------------------------------------------------------------ explain

@click.command("explain")
@click.argument("contact")
@click.option("--playbook", help="only this playbook's enrollments")
@FORMAT_OPTION
@TZ_OPTION
@CONFIG_OPTION
def explain_command(contact: str, playbook: str | None, fmt: str, tz: str | None, config_path: str | None) -> None:
    """The journal of decisions about a contact, with reasons and the plan's source lines."""
    from fsl.store.queries import explain

    rt = open_runtime(config_path)
    try:
        with rt.db.read() as conn:
            data = explain(conn, contact, playbook)
        project_zone = rt.config.timezone
    finally:
        rt.close()
    if data is None:
        fail(f"fsl explain: unknown contact {contact}")
    if playbook is not None and not data["enrollments"] and fmt != "json":
        click.echo(f"{contact} has never been enrolled in {playbook}")
    if fmt == "json":
        print_json(data)
        return
    _print_explain(data, display_zone(tz, (data["fields"] or {}).get("timezone"), project_zone))


def _print_explain(data: dict, zone) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    if not data["known"]:
        out.print(f"{data['contact']} is not a known contact (events about it were kept and reported)")
    out.print(f"{data['contact']}: times in {zone.key}"
              + (f"; fields {_fields(data['fields'])}" if data["fields"] else ""), markup=False)
    for en in data["enrollments"]:
        title = (f"{en['playbook']} (enrollment {en['enrollment']}"
                 + (f", deal {en['deal']}" if en["deal"] else "") + f", plan {en['plan'][:19]}) "
                 f"started {local(en['started_at'], zone)}; {_state(en, zone)}")
        table = Table(title=title, title_justify="left")
        for col in ("at", "decision", "step", "why", "source"):
            table.add_column(col)
        for j in en["journal"]:
            src = j.get("source")
            where = f"{src['file'] or ''}:{src['line']}  {src['text']}" if src else (f"line {j['line']}" if j["line"] else "")
            why = j["reason"] + (f" [{_event(j['event'])}]" if j.get("event") else "")
            table.add_row(local(j["at"], zone), j["kind"], j["step"] or "", escape(why), escape(where))
        out.print(table)
        for v in en.get("variants") or []:
            out.print(escape(_variant_line(v, zone)))
        if en["messages"]:
            for m in en["messages"]:
                what = f"{m['kind']} {m['channel'] or ''} {m['template'] or ''}".strip()
                extra = f" ({m['error']})" if m["error"] and m["status"] != "delivered" else ""
                if m.get("bounce"):
                    extra = f", {m['bounce']} bounce" + extra
                out.print(escape(f"  {local(m['at'], zone)} {m['step']}: {what} -> {m['status']}, "
                                 f"{m['attempts']} attempt(s){extra}"))
    if data["contact_journal"]:
        table = Table(title="about the contact (no enrollment)", title_justify="left")
        for col in ("at", "what", "why"):
            table.add_column(col)
        for j in data["contact_journal"]:
            table.add_row(local(j["at"], zone), j["kind"], j["reason"])
        out.print(table)
    if not data["enrollments"]:
        _print_events(data.get("events") or [], zone)


def _variant_line(v: dict, zone) -> str:
    """(v1.1) which variant of a split, and the winner decision when there is one."""
    line = f"  split {v['split']}: variant {v['variant']} (the journal says why)"
    d = v.get("decision")
    if d is not None:
        p = d["figures"].get("p_value")
        line += (f"; winner {d['winner']} decided {local(d['decided_at'], zone)}"
                 + (f", always-valid p = {p:.4g}" if isinstance(p, float) else "")
                 + ("" if d["winner"] == v["variant"] else f" (this enrollment keeps {v['variant']})"))
    return line


def _state(en: dict, zone) -> str:
    """Where the enrollment stands; for a paused one, when it will really run
    (the pause's end), not the step's nominal due time."""
    if en["status"] == "ended":
        return f"ended as {en['outcome']} at {local(en['ended_at'], zone)}: {en['reason']}"
    runs_at = en.get("runs_at")
    if en["status"] == "paused":
        until = en.get("paused_until") or runs_at
        return (f"paused until {local(until, zone)}; runs at {local(runs_at or until, zone)}"
                f" (step due {local(en['next_due'], zone)})")
    state = f"{en['status']}, next due {local(en['next_due'], zone)}"
    return state + (f", runs at {local(runs_at, zone)}" if runs_at and runs_at != en["next_due"] else "")


def _fields(fields: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in fields.items())


def _event(ev: dict) -> str:
    return ev["type"] + (f" {_fields(ev['fields'])}" if ev["fields"] else "") + (f" step={ev['step']}" if ev["step"] else "")


def _print_events(evs: list[dict], zone) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    if not evs:
        out.print("no events and no enrollment")
        return
    table = Table(title=f"{len(evs)} event(s), no enrollment", title_justify="left")
    for col in ("at", "event", "step", "fields", "note"):
        table.add_column(col)
    for ev in evs:
        note = (ev["flag"] or "").replace("_", " ") or ("not processed yet" if ev["status"] == "pending" else "")
        table.add_row(local(ev["at"], zone), ev["type"], ev["step"] or "", escape(_fields(ev["fields"])), note)
    out.print(table)


# ------------------------------------------------------------------ tasks

@click.group("tasks", invoke_without_command=True)
@click.option("--owner", help="only tasks assigned to this person (name or address)")
@click.option("--due", type=click.Choice(["today", "all"]), default="all", show_default=True,
              help="today: due by the end of today (project time zone), overdue included")
@click.option("--all", "include_done", is_flag=True, help="include tasks already done")
@FORMAT_OPTION
@NOW_OPTION
@TZ_OPTION
@CONFIG_OPTION
@click.pass_context
def tasks_command(ctx: click.Context, owner: str | None, due: str, include_done: bool, fmt: str,
                  now_text: str | None, tz: str | None, config_path: str | None) -> None:
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
        project_zone = rt.config.timezone
    finally:
        rt.close()
    if fmt == "json":
        print_json({"now": iso(now), "tasks": items})
        return
    _print_tasks(items, now, display_zone(tz, project_zone))


def _end_of_day(now: datetime, zone_name: str) -> datetime:
    try:
        zone = ZoneInfo(zone_name)
    except Exception:  # noqa: BLE001 - the config validated it; UTC as a fallback
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(), zone)
    return end.astimezone(UTC) - timedelta(seconds=1)


def _print_tasks(items: list[dict], now: datetime, zone) -> None:
    from rich.table import Table

    out = console()
    if not items:
        out.print("no open tasks")
        return
    table = Table(title=f"{len(items)} task(s), times in {zone.key}", title_justify="left")
    for col in ("id", "due", "kind", "for", "contact", "from", "task"):
        table.add_column(col)
    stamp = iso(now)
    for t in items:
        due = local(t["due"], zone) + (" (overdue)" if t["status"] == "open" and t["due"] < stamp else "")
        if t["status"] == "done":
            due += " done"
        text = t["text"] if not t["subject"] else f"{t['subject']}: {t['text']}"
        table.add_row(str(t["id"]), due, t["kind"], t["assignee"] or "", t["contact"],
                      f"{t['playbook']}/{t['step']}", text)
    out.print(table)


@tasks_command.command("done")
@click.argument("task_id", metavar="ID", type=int)
@click.option("--channel", type=click.Choice(["phone", "email", "linkedin", "meeting", "other"]), default="other",
              show_default=True, help="how the contact was reached")
@click.option("--status", "outcome", type=click.Choice(["reached", "no_answer", "won", "lost"]), default="reached",
              show_default=True, help="what came of it")
@click.option("--summary", default="", help="what was said or done")
@click.option("--feedback", default="", help="what the customer said")
@click.option("--next-at", "next_at", type=click.DateTime(["%Y-%m-%d"]), help="the next follow-up (a date)")
@FORMAT_OPTION
@NOW_OPTION
@CONFIG_OPTION
def tasks_done(task_id: int, channel: str, outcome: str, summary: str, feedback: str, next_at: datetime | None,
               fmt: str, now_text: str | None, config_path: str | None) -> None:
    """Mark a task done and record `task_done` for its contact, applied at once (CONSOLE.md)."""
    from fsl.engine.model import Event
    from fsl.store.queries import get_task, mark_done
    from fsl.store.queries import task_action

    now = (parse_now(now_text) or datetime.now(UTC)).replace(microsecond=0)
    rt = open_runtime(config_path)
    try:
        with rt.db.write() as conn:
            task = get_task(conn, task_id)
            changed = task is not None and mark_done(conn, task_id, now)
            action = task_action(conn, task_id) if changed else None
        if task is None:
            fail(f"fsl tasks done: no task {task_id}")
        if changed:
            fields: dict = {"task": task_id, "channel": channel, "summary": summary, "feedback": feedback,
                            "status": outcome}
            if next_at is not None:
                fields["next_at"] = next_at.date()
            # `action` lets `fsl report` tell this task from others of the same kind and step
            rt.ingest_now([Event(now, "task_done", task["contact"], task["deal"], None,
                                 {**fields, "action": action})], now)
        with rt.db.read() as conn:
            task = get_task(conn, task_id)
    finally:
        rt.close()
    if fmt == "json":
        print_json({"task": task, "changed": changed})
    else:
        # (re-read: None only if the task was deleted meanwhile)
        done_at = task["done_at"] if task is not None else "unknown"
        click.echo(f"task {task_id} " + ("done" if changed else f"was already done ({done_at})"))
    sys.exit(0)
