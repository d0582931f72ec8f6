"""Putting failed outbox messages back in the queue after a fix (`fsl outbox retry`).

The row itself goes back to `pending` with its attempts reset: same key, so
the same Message-ID and Idempotency-Key, and the outbox's claim makes it
go out once.  Two kinds are left alone, with the reason said:

* a message whose enrollment has ended: a stop rule cancels every message
  of the enrollment not yet handed over (RUNTIME.md 4), and a failed one was
  never handed over; re-sending it would write to someone who replied,
  unsubscribed or bounced.  Re-enroll instead.
* with `--failed`, a hard bounce: the server refused the address for good;
  mailing it again in bulk hurts the sender's reputation.  After fixing the
  contact's address, name the message by its id.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from fsl.store.codec import epoch
from fsl.store.plans import get_meta
from fsl.store.schema import actions, enrollments


@dataclass(frozen=True)
class Requeue:
    """What `requeue` did: the rows put back and those left, with why."""

    requeued: list[dict]
    skipped: list[dict]
    unknown: list[str]  # ids or keys that name no outbox row


def requeue(db, wanted: list[str], all_failed: bool, now: datetime) -> Requeue:
    """Re-queue the failed rows named by id or key in `wanted` (or every failed one)."""
    a, e = actions.c, enrollments.c
    q = (sa.select(a.id, a.key, a.contact, a.playbook, a.step, a.status, a.bounce, e.status.label("en_status"),
                   e.outcome, e.reason).select_from(actions.outerjoin(enrollments, e.id == a.enrollment)))
    ids = [int(w) for w in wanted if w.isdigit()]
    keys = [w for w in wanted if not w.isdigit()]
    if not all_failed:
        q = q.where(sa.or_(a.id.in_(ids), a.key.in_(keys)))
    else:
        q = q.where(a.status == "failed")
    requeued: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    with db.write() as conn:
        rows = list(conn.execute(q.order_by(a.id)).mappings())
        due = epoch(now)
        clock = get_meta(conn, "clock")
        if clock:  # a store ticked on a simulated clock: due at its next tick all the same
            due = min(due, int(clock))
        for r in rows:
            why = _why_not(r, all_failed)
            entry = {"id": r["id"], "key": r["key"], "contact": r["contact"], "playbook": r["playbook"],
                     "step": r["step"]}
            if why is not None:
                skipped.append({**entry, "reason": why})
                continue
            changed = conn.execute(actions.update().where(a.id == r["id"], a.status == "failed").values(
                status="pending", attempts=0, next_attempt_at=due, bounce=None, claimed_by=None,
                lease_until=None)).rowcount
            (requeued if changed else skipped).append(entry if changed else {**entry, "reason": "changed meanwhile"})
    found = {str(r["id"]) for r in rows} | {r["key"] for r in rows}
    return Requeue(requeued, skipped, [w for w in wanted if w not in found])


def _why_not(r, all_failed: bool) -> str | None:
    if r["status"] != "failed":
        return f"it is {r['status']}, not failed"
    if r["en_status"] is None:
        return "its enrollment no longer exists"
    if r["en_status"] == "ended":
        return (f"its enrollment ended ({r['outcome']}: {r['reason']}); a stopped conversation stays stopped, "
                "re-enroll instead")
    if all_failed and r["bounce"] == "hard":
        return "hard bounce: the server refused the address; fix the contact's address, then retry it by id"
    return None
