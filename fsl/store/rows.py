"""Model objects (fsl/engine/model.py) <-> table rows.

Only this module knows how an `Enrollment`'s engine state is laid out in its
JSON `state` column, how an action's payload is packed, and how an event's
fields travel; the store and the read-side queries go through it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from fsl.engine.model import ActionRecord, Contact, Deal, Enrollment, Event, JournalEntry

from .codec import dumps, epoch, from_iso, instant, loads, stored_iso


# A row as read: a dict, or SQLAlchemy's RowMapping, whose keys are names or
# columns (Mapping is invariant in its key, so Mapping[str, Any] refuses it).
Row = Mapping[Any, Any]


@dataclass(slots=True)
class StoredEvent(Event):
    """An event read from the events table: `row_id` is its row (and arrival order)."""

    row_id: int = 0


# ------------------------------------------------------------- enrollments

def enrollment_state(en: Enrollment) -> str:
    """The engine's working state of an enrollment, as JSON.  Its instants are
    plain ISO text, not tagged (codec.py): the keys say what they hold, and an
    untagged text decodes without a walk for tags -- this is read and written
    for every step a tick runs.  Rows written with tags read the same."""
    return dumps({
        "step": en.step, "resume": list(en.resume) if en.resume is not None else None,
        "repeat": en.repeat, "runs": en.runs, "anchor": stored_iso(en.anchor), "due_at": stored_iso(en.due_at),
        "vars": en.vars, "offer": en.offer, "paused_until": stored_iso(en.paused_until),
        "wait_event": en.wait_event, "wait_ordinal": en.wait_ordinal, "wait_since": stored_iso(en.wait_since),
        "last_deferral": en.last_deferral, **({"variants": en.variants} if en.variants else {}),
        **({"held_until": stored_iso(en.held_until)} if en.held_until is not None else {}),
    })


# The columns a step can change, in the order of `enrollment_changes`: what
# write-back compares with the row as it was read, and updates.
CHANGING = ("status", "rank", "wake_at", "ended_at", "outcome", "reason", "state", "plan_hash")


def enrollment_changes(en: Enrollment, wake_at: datetime | None, rank: int) -> tuple:
    """The CHANGING columns' values."""
    return (en.status, rank, epoch(wake_at), epoch(en.ended_at), en.outcome, en.reason, enrollment_state(en),
            en.plan_hash)


def enrollment_row(en: Enrollment, wake_at: datetime | None, rank: int) -> dict[str, Any]:
    return {"id": en.id, "playbook": en.playbook, "contact": en.contact, "deal": en.deal,
            "started_at": epoch(en.started_at), **dict(zip(CHANGING, enrollment_changes(en, wake_at, rank)))}


def enrollment_from(row: Row) -> Enrollment:
    s = loads(row["state"]) or {}
    resume = s.get("resume")
    return Enrollment(
        id=int(row["id"]), playbook=row["playbook"], plan_hash=row["plan_hash"], contact=row["contact"],
        deal=row["deal"], started_at=instant(row["started_at"]), status=row["status"],
        step=s.get("step", 0), resume=tuple(resume) if resume is not None else None,
        repeat=s.get("repeat", 0), runs=s.get("runs") or {}, anchor=from_iso(s.get("anchor")),
        due_at=from_iso(s.get("due_at")), vars=s.get("vars") or {}, offer=s.get("offer"),
        paused_until=from_iso(s.get("paused_until")), wait_event=s.get("wait_event"),
        wait_ordinal=s.get("wait_ordinal", -1), wait_since=from_iso(s.get("wait_since")),
        ended_at=instant(row["ended_at"]), outcome=row["outcome"], reason=row["reason"],
        last_deferral=s.get("last_deferral"), variants=s.get("variants") or {},
        held_until=from_iso(s.get("held_until")),
    )


# ------------------------------------------------------------- contacts, deals

def contact_from(row: Row) -> Contact:
    fields = loads(row["fields"]) or {}
    fields["id"] = row["id"]
    return Contact(row["id"], fields, int(row["version"] or 0))


def deal_from(row: Row, stakes: list[Row]) -> Deal:
    fields = loads(row["fields"]) or {}
    fields["id"] = row["id"]
    return Deal(row["id"], fields, {s["contact"]: loads(s["fields"]) or {} for s in stakes})


# ------------------------------------------------------------- events

def event_row(e: Event, status: str, flag: str | None, received_at: int | None) -> dict[str, Any]:
    return {"at": epoch(e.at), "type": e.type, "contact": e.contact, "deal": e.deal, "step": e.step,
            "fields": dumps(e.fields or {}), "status": status, "flag": flag, "enrollment": e.enrollment,
            "received_at": received_at, "source": e.source,
            "evidence": dumps(list(e.evidence)) if e.evidence else None, "dedup": e.dedup}


def event_from(row: Row) -> StoredEvent:
    return StoredEvent(at=instant(row["at"]), type=row["type"], contact=row["contact"], deal=row["deal"],
                       step=row["step"], fields=loads(row["fields"]) or {}, seq=int(row["id"]),
                       enrollment=row["enrollment"], row_id=int(row["id"]), source=row["source"],
                       evidence=tuple(loads(row["evidence"]) or ()) if row["evidence"] else (),
                       dedup=row["dedup"])


# ------------------------------------------------------------- actions

def action_key(key: tuple) -> str:
    """The idempotency key as text (fsl.delivery.message.idempotency_key's form)."""
    return f"{key[0]}:{key[1]}:{key[2]}:{key[3]}"


def parse_key(text: str) -> tuple[int, str, int, int]:
    enrollment, rest = text.split(":", 1)
    step, iteration, action = rest.rsplit(":", 2)
    return int(enrollment), step, int(iteration), int(action)


ACTION = ("key", "enrollment", "contact", "deal", "playbook", "step", "kind", "channel", "template", "at", "line",
          "payload", "status", "attempts", "next_attempt_at", "claimed_by", "lease_until", "last_error")
_DELIVERABLE = frozenset(("send", "task", "notify"))


def action_payload(rec: ActionRecord, vars: Mapping[str, Any] | None) -> str:
    payload: dict[str, Any] = {}
    for name in ("offer", "to", "text", "due", "data"):
        value = getattr(rec, name)
        if value is not None:
            payload[name] = value
    if vars:
        payload["vars"] = vars
    return dumps(payload)


def action_values(rec: ActionRecord, vars: Mapping[str, Any] | None, status: str | None = None, *,
                  attempts: int = 0, claimed_by: str | None = None, lease_until: int | None = None,
                  last_error: str | None = None) -> tuple:
    """An action's row, in ACTION order.  A send, task or notification waits
    in the outbox (`pending`, due at its instant) unless `status` says
    otherwise; anything else is `done` at once."""
    at = epoch(rec.at)
    deliverable = rec.kind in _DELIVERABLE
    if status is None:
        status = "pending" if deliverable else "done"
    due = at if deliverable and status in ("pending", "sending") else None
    return (action_key(rec.key), rec.enrollment, rec.contact, rec.deal, rec.playbook, rec.step, rec.kind,
            rec.channel, rec.template, at, rec.line, action_payload(rec, vars), status, attempts, due, claimed_by,
            lease_until, last_error)


def is_deliverable(rec: ActionRecord) -> bool:
    return rec.kind in _DELIVERABLE


def action_from(row: Row) -> tuple[ActionRecord, dict[str, Any]]:
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


def journal_from(row: Row) -> JournalEntry:
    return JournalEntry(at=instant(row["at"]), kind=row["kind"], reason=row["reason"],
                        enrollment=row["enrollment"], contact=row["contact"], playbook=row["playbook"],
                        step=row["step"], line=int(row["line"] or 0))
