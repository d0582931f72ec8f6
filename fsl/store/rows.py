"""Model objects (fsl/runtime/model.py) <-> table rows.

Only this module knows how an `Enrollment`'s engine state is laid out in its
JSON `state` column, how an action's payload is packed, and how an event's
fields travel; the store and the read-side queries go through it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from fsl.runtime.model import ActionRecord, Contact, Deal, Enrollment, Event, JournalEntry

from .codec import dumps, epoch, instant, loads


@dataclass(slots=True)
class StoredEvent(Event):
    """An event read from the events table: `row_id` is its row (and arrival order)."""

    row_id: int = 0


# ------------------------------------------------------------- enrollments

def enrollment_state(en: Enrollment) -> str:
    """The engine's working state of an enrollment, as JSON."""
    return dumps({
        "step": en.step, "resume": list(en.resume) if en.resume is not None else None,
        "repeat": en.repeat, "runs": en.runs, "anchor": en.anchor, "due_at": en.due_at,
        "vars": en.vars, "offer": en.offer, "paused_until": en.paused_until,
        "wait_event": en.wait_event, "wait_ordinal": en.wait_ordinal, "wait_since": en.wait_since,
        "last_deferral": en.last_deferral,
    })


def enrollment_row(en: Enrollment, wake_at: datetime | None, rank: int) -> dict[str, Any]:
    return {
        "id": en.id, "playbook": en.playbook, "plan_hash": en.plan_hash, "contact": en.contact,
        "deal": en.deal, "status": en.status, "rank": rank, "wake_at": epoch(wake_at),
        "started_at": epoch(en.started_at), "ended_at": epoch(en.ended_at), "outcome": en.outcome,
        "reason": en.reason, "state": enrollment_state(en),
    }


def enrollment_from(row: Mapping[str, Any]) -> Enrollment:
    s = loads(row["state"]) or {}
    resume = s.get("resume")
    return Enrollment(
        id=int(row["id"]), playbook=row["playbook"], plan_hash=row["plan_hash"], contact=row["contact"],
        deal=row["deal"], started_at=instant(row["started_at"]), status=row["status"],
        step=s.get("step", 0), resume=tuple(resume) if resume is not None else None,
        repeat=s.get("repeat", 0), runs=s.get("runs") or {}, anchor=s.get("anchor"), due_at=s.get("due_at"),
        vars=s.get("vars") or {}, offer=s.get("offer"), paused_until=s.get("paused_until"),
        wait_event=s.get("wait_event"), wait_ordinal=s.get("wait_ordinal", -1), wait_since=s.get("wait_since"),
        ended_at=instant(row["ended_at"]), outcome=row["outcome"], reason=row["reason"],
        last_deferral=s.get("last_deferral"),
    )


# ------------------------------------------------------------- contacts, deals

def contact_from(row: Mapping[str, Any]) -> Contact:
    fields = loads(row["fields"]) or {}
    fields["id"] = row["id"]
    return Contact(row["id"], fields, int(row["version"] or 0))


def deal_from(row: Mapping[str, Any], stakes: list[Mapping[str, Any]]) -> Deal:
    fields = loads(row["fields"]) or {}
    fields["id"] = row["id"]
    return Deal(row["id"], fields, {s["contact"]: loads(s["fields"]) or {} for s in stakes})


# ------------------------------------------------------------- events

def event_row(e: Event, status: str, flag: str | None, received_at: int | None) -> dict[str, Any]:
    return {"at": epoch(e.at), "type": e.type, "contact": e.contact, "deal": e.deal, "step": e.step,
            "fields": dumps(e.fields or {}), "status": status, "flag": flag, "enrollment": e.enrollment,
            "received_at": received_at}


def event_from(row: Mapping[str, Any]) -> StoredEvent:
    return StoredEvent(at=instant(row["at"]), type=row["type"], contact=row["contact"], deal=row["deal"],
                       step=row["step"], fields=loads(row["fields"]) or {}, seq=int(row["id"]),
                       enrollment=row["enrollment"], row_id=int(row["id"]))


# ------------------------------------------------------------- actions

def action_key(key: tuple) -> str:
    """The idempotency key as text (fsl.delivery.message.idempotency_key's form)."""
    return f"{key[0]}:{key[1]}:{key[2]}:{key[3]}"


def parse_key(text: str) -> tuple[int, str, int, int]:
    enrollment, rest = text.split(":", 1)
    step, iteration, action = rest.rsplit(":", 2)
    return int(enrollment), step, int(iteration), int(action)


def action_row(rec: ActionRecord, vars: Mapping[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for name in ("offer", "to", "text", "due", "data"):
        value = getattr(rec, name)
        if value is not None:
            payload[name] = value
    if vars:
        payload["vars"] = vars
    deliverable = rec.kind in ("send", "task", "notify")
    return {
        "key": action_key(rec.key), "enrollment": rec.enrollment, "contact": rec.contact, "deal": rec.deal,
        "playbook": rec.playbook, "step": rec.step, "kind": rec.kind, "channel": rec.channel,
        "template": rec.template, "at": epoch(rec.at), "line": rec.line, "payload": dumps(payload),
        "status": "pending" if deliverable else "done", "attempts": 0,
        "next_attempt_at": epoch(rec.at) if deliverable else None,
    }


def action_from(row: Mapping[str, Any]) -> tuple[ActionRecord, dict[str, Any]]:
    """The record and the enrollment's `vars` as they were when it was decided."""
    p = loads(row["payload"]) or {}
    rec = ActionRecord(
        key=parse_key(row["key"]), at=instant(row["at"]), enrollment=int(row["enrollment"]),
        contact=row["contact"], deal=row["deal"], playbook=row["playbook"], step=row["step"], kind=row["kind"],
        channel=row["channel"], template=row["template"], offer=p.get("offer"), to=p.get("to"),
        text=p.get("text"), due=p.get("due"), data=p.get("data"), line=int(row["line"] or 0))
    return rec, p.get("vars") or {}


# ------------------------------------------------------------- journal

def journal_row(j: JournalEntry) -> dict[str, Any]:
    return {"enrollment": j.enrollment, "contact": j.contact, "playbook": j.playbook, "step": j.step,
            "at": epoch(j.at), "kind": j.kind, "reason": j.reason, "line": j.line or 0}


def journal_from(row: Mapping[str, Any]) -> JournalEntry:
    return JournalEntry(at=instant(row["at"]), kind=row["kind"], reason=row["reason"],
                        enrollment=row["enrollment"], contact=row["contact"], playbook=row["playbook"],
                        step=row["step"], line=int(row["line"] or 0))
