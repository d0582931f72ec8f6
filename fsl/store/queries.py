"""Read-side queries: `fsl status`, `fsl explain`, `fsl tasks`.

Each runs in one read transaction (a consistent snapshot; on SQLite in WAL
mode it never waits for a running tick) and returns plain data that the
commands print as tables or JSON.  The counts of `status` come from the
same indexes the tick uses (the wake index, the partial outbox indexes), so
they stay cheap as history grows.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parseaddr
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.engine.timing import iso

from .codec import epoch, instant, loads
from .plans import current_hashes, get_meta
from .rows import enrollment_from
from .schema import actions, contacts, enrollments, events, journal, plans, split_decisions, tasks, ticks


def _t(value: int | None) -> str | None:
    return iso(instant(value)) if value is not None else None


# ------------------------------------------------------------------ status

def status(conn: Connection, now: datetime) -> dict[str, Any]:
    e, a = enrollments.c, actions.c
    books: dict[str, dict[str, Any]] = {}

    def book(name: str) -> dict[str, Any]:
        return books.setdefault(name, {"playbook": name, "plan": None, "active": 0, "waiting": 0, "paused": 0,
                                       "ended": {}, "due_now": 0, "outbox": {"pending": 0, "sending": 0},
                                       "failed": 0, "delivered": 0})

    for name, h in current_hashes(conn).items():
        book(name)["plan"] = h
    q = sa.select(e.playbook, e.status, e.outcome, sa.func.count()).group_by(e.playbook, e.status, e.outcome)
    for name, st, outcome, n in conn.execute(q):
        b = book(name)
        if st == "ended":
            b["ended"][outcome or "?"] = b["ended"].get(outcome or "?", 0) + n
        else:
            b[st] = b.get(st, 0) + n
    q = (sa.select(e.playbook, sa.func.count()).where(e.wake_at.is_not(None), e.wake_at <= epoch(now))
         .group_by(e.playbook))
    for name, n in conn.execute(q):
        book(name)["due_now"] = n
    q = sa.select(a.playbook, a.status, sa.func.count()).where(a.status.in_(("pending", "sending"))) \
        .group_by(a.playbook, a.status)
    for name, st, n in conn.execute(q):
        book(name)["outbox"][st] = n
    for name, n in conn.execute(sa.select(a.playbook, sa.func.count()).where(a.status == "failed")
                                .group_by(a.playbook)):
        book(name)["failed"] = n
    for b in books.values():
        b["enrolled_now"] = b["active"] + b["waiting"] + b["paused"]
    failures = [{"id": r.id, "key": r.key, "contact": r.contact, "playbook": r.playbook, "step": r.step,
                 "channel": r.channel, "attempts": r.attempts, "error": r.last_error, "bounce": r.bounce,
                 "at": _t(r.at)}
                for r in conn.execute(sa.select(actions).where(a.status == "failed").order_by(a.id.desc()).limit(10))]
    retrying = a.status == "pending", a.attempts > 0  # tried and refused for now: a pending retry

    failed = [{"id": r.id, "contact": r.contact, "playbook": r.playbook, "ended_at": _t(r.ended_at),
               "reason": r.reason}
              for r in conn.execute(sa.select(enrollments).where(e.status == "ended", e.outcome == "failed")
                                    .order_by(e.ended_at.desc(), e.id.desc()).limit(10))]
    flagged = conn.execute(sa.select(events.c.flag, sa.func.count()).where(events.c.flag.is_not(None))
                           .group_by(events.c.flag)).all()
    last = conn.execute(sa.select(ticks).order_by(ticks.c.id.desc()).limit(1)).mappings().first()
    clock = get_meta(conn, "clock")
    return {
        "now": iso(now),
        "clock": _t(int(clock)) if clock else None,
        "playbooks": sorted(books.values(), key=lambda b: b["playbook"]),
        "pending_events": conn.execute(sa.select(sa.func.count()).select_from(events)
                                       .where(events.c.status == "pending")).scalar(),
        "unknown_events": {flag: n for flag, n in flagged},
        "open_tasks": conn.execute(sa.select(sa.func.count()).select_from(tasks)
                                   .where(tasks.c.status == "open")).scalar(),
        "recent_failures": failures,
        "recent_warnings": recent_warnings(conn),
        "pending_retries": conn.execute(sa.select(sa.func.count()).select_from(actions).where(*retrying)).scalar(),
        "retries": pending_retries(conn, 20),

        "failed_enrollments": failed,  # the latest ten that ended `failed` (an error, a loop), with why
        "last_tick": None if last is None else {
            "now": _t(last["now"]), "started_at": _t(last["started_at"]), "finished_at": _t(last["finished_at"]),
            "report": json.loads(last["report"]) if last["report"] else None},
    }


WARNING_WINDOW = 100_000  # journal rows looked at: the journal has no index on kind


def recent_warnings(conn: Connection, limit: int = 10) -> list[dict[str, Any]]:
    """The latest journal warnings (a send skipped because its `to` is none, an
    event for an unknown contact), among the last WARNING_WINDOW entries so
    that status stays cheap on a long journal; `fsl explain` has them all."""
    j = journal.c
    last = conn.execute(sa.select(sa.func.max(j.id))).scalar()
    if last is None:
        return []
    q = (sa.select(j.at, j.contact, j.playbook, j.step, j.line, j.reason)
         .where(j.id > last - WARNING_WINDOW, j.kind == "warning").order_by(j.id.desc()).limit(limit))
    return [{"at": _t(r.at), "contact": r.contact, "playbook": r.playbook, "step": r.step, "line": r.line,
             "reason": r.reason} for r in conn.execute(q)]


def pending_retries(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    """Messages waiting for another attempt, soonest first, with the last
    attempt's reason (for SMTP a deferral: the server's 4xx reply)."""
    a = actions.c
    q = (sa.select(actions).where(a.status == "pending", a.attempts > 0)
         .order_by(a.next_attempt_at, a.id).limit(limit))
    return [{"id": r.id, "key": r.key, "contact": r.contact, "playbook": r.playbook, "step": r.step,
             "channel": r.channel, "attempts": r.attempts, "next_attempt": _t(r.next_attempt_at),
             "reason": r.last_error} for r in conn.execute(q)]




def unknown_events(conn: Connection, limit: int = 20) -> list[dict[str, Any]]:
    q = sa.select(events).where(events.c.flag.is_not(None)).order_by(events.c.id.desc()).limit(limit)
    return [{"id": r.id, "at": _t(r.at), "type": r.type, "contact": r.contact, "deal": r.deal, "step": r.step,
             "flag": r.flag, "source": r.source} for r in conn.execute(q)]


# ------------------------------------------------------------------ explain

def explain(conn: Connection, contact_id: str, playbook: str | None = None) -> dict[str, Any] | None:
    """The contact's enrollments with their journal, messages and the plan lines quoted."""
    row = conn.execute(sa.select(contacts).where(contacts.c.id == contact_id)).mappings().first()
    e = enrollments.c
    q = sa.select(enrollments).where(e.contact == contact_id)
    if playbook is not None:
        q = q.where(e.playbook == playbook)
    rows = list(conn.execute(q.order_by(e.id)).mappings())
    ens = [enrollment_from(r) for r in rows]
    wakes = {r["id"]: r["wake_at"] for r in rows}
    if row is None and not ens:
        return None
    evs = _contact_events(conn, contact_id)
    sources = _sources(conn, {en.plan_hash for en in ens})
    j = journal.c
    jq = sa.select(journal).where(j.contact == contact_id).order_by(j.id)
    by_enrollment: dict[int | None, list[dict]] = {}
    for r in conn.execute(jq).mappings():
        if playbook is not None and r["playbook"] not in (None, playbook):
            continue
        entry = {"at": _t(r["at"]), "kind": r["kind"], "step": r["step"], "reason": r["reason"],
                 "line": r["line"] or None}
        by_enrollment.setdefault(r["enrollment"], []).append(entry)
    msgs: dict[int, list[dict]] = {}
    aq = sa.select(actions).where(actions.c.contact == contact_id, actions.c.kind != "set").order_by(actions.c.id)
    for r in conn.execute(aq).mappings():
        msgs.setdefault(r["enrollment"], []).append({
            "key": r["key"], "at": _t(r["at"]), "step": r["step"], "kind": r["kind"], "channel": r["channel"],
            "template": r["template"], "status": r["status"], "attempts": r["attempts"], "error": r["last_error"],
            "message_id": r["message_id"], "provider_id": r["provider_id"], "bounce": r["bounce"]})
    out = []
    for en in ens:
        file, lines = sources.get(en.plan_hash, (None, []))
        entries = by_enrollment.get(en.id, [])
        for entry in entries:
            n = entry["line"]
            if n and 0 < n <= len(lines):
                entry["source"] = {"file": file, "line": n, "text": lines[n - 1].strip()}
            cause = _cause(entry, evs)
            if cause is not None:
                entry["event"] = cause
        out.append({"enrollment": en.id, "playbook": en.playbook, "plan": en.plan_hash, "deal": en.deal,
                    "status": en.status, "outcome": en.outcome, "reason": en.reason,
                    "started_at": iso(en.started_at), "ended_at": iso(en.ended_at),
                    "next_due": iso(en.due_at) if en.status != "ended" else None,
                    # when the runtime will really take it up: a pause's end, a deferral, a wait's timeout
                    "runs_at": _t(wakes.get(en.id)) if en.status != "ended" else None,
                    "paused_until": iso(en.paused_until) if en.status == "paused" else None,
                    "variants": _variants(conn, en.playbook, en.variants),
                    "journal": entries, "messages": msgs.get(en.id, [])})
    return {"contact": contact_id, "known": row is not None,
            "fields": _readable(row["fields"]) if row is not None else None,
            "enrollments": out, "contact_journal": by_enrollment.get(None, []), "events": evs}


def _variants(conn: Connection, playbook: str, taken: dict[str, str]) -> list[dict[str, Any]]:
    """(v1.1) the variant the enrollment took in each split, and the split's
    winner decision when one was recorded (with the figures behind it)."""
    out = []
    for split, variant in sorted(taken.items()):
        d = split_decisions.c
        row = conn.execute(sa.select(split_decisions).where(d.playbook == playbook, d.split == split)).mappings().first()
        decision = None if row is None else {"winner": row["winner"], "decided_at": _t(row["decided_at"]),
                                             "figures": loads(row["figures"]) or {}}
        out.append({"split": split, "variant": variant, "decision": decision})
    return out


_RULE = re.compile(r"\b(?:stop|pause) on (\S+)")


def _contact_events(conn: Connection, contact_id: str) -> list[dict[str, Any]]:
    q = sa.select(events).where(events.c.contact == contact_id).order_by(events.c.at, events.c.id)
    return [{"at": _t(r["at"]), "type": r["type"], "step": r["step"], "enrollment": r["enrollment"],
             "fields": _readable(r["fields"]) or {}, "status": r["status"], "flag": r["flag"],
             "source": r["source"], "evidence": _readable(r["evidence"]) if r["evidence"] else []}
            for r in conn.execute(q).mappings()]


def _readable(text: str | None) -> Any:
    """A stored JSON text for a person to read; one no code can read (edited by
    hand) is shown as it is, never a crash of the command that shows it."""
    try:
        return loads(text)
    except ValueError:
        return {"unreadable": text}


def _cause(entry: dict[str, Any], evs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The contact's event a `stop on` / `pause on` entry was decided on: its
    type (from the reason) at the entry's instant (the engine journals the
    event's own instant)."""
    if entry["kind"] not in ("ended", "paused"):
        return None
    m = _RULE.search(entry["reason"] or "")
    if m is None:
        return None
    return next((ev for ev in evs if ev["at"] == entry["at"] and ev["type"] == m.group(1)), None)


def _sources(conn: Connection, hashes: set[str]) -> dict[str, tuple[str | None, list[str]]]:
    if not hashes:
        return {}
    q = sa.select(plans.c.hash, plans.c.source_file, plans.c.source_text).where(plans.c.hash.in_(sorted(hashes)))
    return {h: (f, (t or "").splitlines()) for h, f, t in conn.execute(q)}


# ------------------------------------------------------------------ tasks

def open_tasks(conn: Connection, owner: str | None = None, due_before: datetime | None = None,
               include_done: bool = False) -> list[dict[str, Any]]:
    t = tasks.c
    q = sa.select(tasks)
    if not include_done:
        q = q.where(t.status == "open")
    if due_before is not None:
        q = q.where(t.due_at <= epoch(due_before))
    out = []
    for r in conn.execute(q.order_by(t.due_at, t.id)).mappings():
        if owner is not None and not _owner_matches(owner, r["assignee"]):
            continue
        out.append(task_json(r))
    return out


def task_json(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "due": _t(r["due_at"]), "kind": r["kind"], "assignee": r["assignee"],
            "contact": r["contact"], "deal": r["deal"], "playbook": r["playbook"], "step": r["step"],
            "subject": r["subject"], "text": r["text"], "status": r["status"], "created_at": _t(r["created_at"]),
            "done_at": _t(r["done_at"])}


def _owner_matches(owner: str, assignee: str | None) -> bool:
    """Exact, case-insensitive, against the whole value or its address."""
    if not assignee:
        return False
    want = owner.strip().lower()
    for part in assignee.split(","):
        name, addr = parseaddr(part)
        if want in {part.strip().lower(), addr.lower(), name.strip().lower()}:
            return True
    return False


def get_task(conn: Connection, task_id: int) -> dict[str, Any] | None:
    r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).mappings().first()
    return task_json(r) if r is not None else None


def task_action(conn: Connection, task_id: int) -> str | None:
    """The key of the action that made the task (what `fsl report` matches completions by)."""
    return conn.execute(sa.select(tasks.c.action_key).where(tasks.c.id == task_id)).scalar()


def mark_done(conn: Connection, task_id: int, at: datetime) -> bool:
    """True when it was open and is now done."""
    return conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.status == "open")
                        .values(status="done", done_at=epoch(at))).rowcount == 1

