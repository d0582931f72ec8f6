"""The review queue of model-written sends: the `reviews` table (schema v2).

Why a table of its own rather than more columns on `actions`: the outbox row
stays what it is for every channel (status, attempts, lease), and a review
keeps what only a held model message has -- the last draft, every verdict,
the cause, who decided what and when -- for as long as the action exists.

One review per action key, created the first time a `renderer: llm` send
cannot go out as written:

    held      waiting for a person.  cause `guards`: the answers broke a
              guard after the re-asks (action status `held`, never claimed
              by the outbox).  cause `model_unavailable`: the model could
              not be reached; the action is `pending` with a backoff (the
              outbox asks again by itself) until MAX_AUTO_ASKS outages in a
              row, then `held` until `fsl review retry`.
    approved  a person approved the draft or wrote/edited the text; the
              action is `pending` again and the outbox sends exactly this
              text, under the same idempotency key and Message-ID.
    rejected  never sent (action status `rejected`).
    released  the model answered and the guards passed after an outage (or
              a `retry`): the outbox sends the model's text as usual.
    sent      an approved text was delivered.

Every transition writes a journal row (kind `review_*`) for the action's
enrollment and step, so `fsl explain` tells the whole story.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl import retrying
from fsl.store.members import one_of
from fsl.store.schema import actions, enrollments, events, journal, reviews

OPEN = "held"
MAX_AUTO_ASKS = 6  # model outages in a row before a held message waits for a person
BACKOFF_BASE = 60  # seconds: 1, 2, 4, 8, 16 minutes ...
BACKOFF_CAP = 3600


class ReviewError(Exception):
    """A review command cannot do what was asked (unknown id, wrong state): exit 1 or 2."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def backoff(asks: int) -> int:
    """Seconds before the outbox asks the model again after `asks` outages in a row."""
    return int(retrying.backoff(asks, BACKOFF_BASE, BACKOFF_CAP))


@dataclass(frozen=True)
class Held:
    """What the outbox records when a render is held (see fsl.runtime.llm_queue)."""

    cause: str  # guards | model_unavailable
    reasons: tuple[str, ...]
    subject: str | None
    body: str | None
    verdicts: dict[str, Any]  # RenderOutcome.to_journal()


def wall() -> int:
    return int(time.time())


def journal_entry(conn: Connection, action: dict, at: int, kind: str, reason: Any) -> None:
    """A journal row about this action's enrollment and step; `reason` JSON unless text."""
    text = reason if isinstance(reason, str) else json.dumps(reason, ensure_ascii=False, sort_keys=True,
                                                               default=str)
    conn.execute(journal.insert().values(enrollment=action["enrollment"], contact=action["contact"],
                                         playbook=action["playbook"], step=action["step"], at=at, kind=kind,
                                         reason=text, line=action.get("line") or 0))


def by_key(conn: Connection, key: str) -> dict | None:
    row = conn.execute(sa.select(reviews).where(reviews.c.action_key == key)).mappings().first()
    return dict(row) if row is not None else None


def record_held(conn: Connection, action: dict, held: Held, at: int) -> dict:
    """Create or update the review of a held render (inside the outbox's settle transaction).

    Returns the review row as written; `asks` counts outages in a row."""
    old = by_key(conn, action["key"])
    asks = ((old["asks"] if old is not None and old["cause"] == "model_unavailable" else 0) + 1
            if held.cause == "model_unavailable" else 0)
    retry_at = at + backoff(asks) if held.cause == "model_unavailable" and asks < MAX_AUTO_ASKS else None
    draft = old if held.subject is None and held.body is None else None  # an outage keeps the last draft
    values = {"status": OPEN, "cause": held.cause, "reasons": json.dumps(list(held.reasons), ensure_ascii=False),
              "subject": draft["subject"] if draft is not None else held.subject,
              "body": draft["body"] if draft is not None else held.body,
              "verdicts": json.dumps(held.verdicts, ensure_ascii=False, default=str),
              "asks": asks, "retry_at": retry_at, "updated_at": at,
              "decided_at": None, "decided_by": None, "note": None}
    if old is None:
        values.update(action_id=action["id"], action_key=action["key"], enrollment=action["enrollment"],
                      contact=action["contact"], deal=action["deal"], playbook=action["playbook"],
                      step=action["step"], template=action["template"], created_at=at)
        conn.execute(reviews.insert().values(**values))
    else:
        conn.execute(reviews.update().where(reviews.c.id == old["id"]).values(**values))
    return {**(old or {}), **values}


def mark(conn: Connection, key: str, status: str, at: int, by: str, note: str | None = None,
         only: Iterable[str] = (OPEN, "approved")) -> None:
    """Move an existing review on (released, sent) when the outbox resolves it."""
    conn.execute(reviews.update().where(reviews.c.action_key == key, reviews.c.status.in_(tuple(only)))
                 .values(status=status, updated_at=at, decided_at=at, decided_by=by, note=note))


def approved_texts(conn: Connection, keys: list[str]) -> dict[str, tuple[int, str | None, str]]:
    """(review id, subject, body) of each of these sends whose text a person approved, by key
    (a batch the outbox is about to render: one query a few hundred keys at a time)."""
    out: dict[str, tuple[int, str | None, str]] = {}
    for start in range(0, len(keys), 500):
        q = (sa.select(reviews.c.action_key, reviews.c.id, reviews.c.subject, reviews.c.body)
             .where(one_of(conn, reviews.c.action_key, keys[start:start + 500]), reviews.c.status == "approved")
             .order_by(reviews.c.id))
        for row in conn.execute(q):
            out.setdefault(row.action_key, (row.id, row.subject, row.body or ""))
    return out


# ------------------------------------------------------------------ reading

def listing(conn: Connection, status: str | None = OPEN) -> list[dict[str, Any]]:
    """Reviews (open ones by default), oldest first, with the action's state and the enrollment's."""
    q = (sa.select(reviews, actions.c.status.label("action_status"), actions.c.at.label("action_at"),
                   actions.c.channel, enrollments.c.status.label("enrollment_status"),
                   enrollments.c.reason.label("enrollment_reason"), enrollments.c.ended_at)
         .select_from(reviews.join(actions, actions.c.id == reviews.c.action_id)
                      .outerjoin(enrollments, enrollments.c.id == reviews.c.enrollment))
         .order_by(reviews.c.created_at, reviews.c.id))
    if status is not None:
        q = q.where(reviews.c.status == status)
    return [_public(dict(r)) for r in conn.execute(q).mappings()]


def get(conn: Connection, review_id: int) -> dict[str, Any]:
    for row in listing_one(conn, review_id):
        return row
    raise ReviewError(f"no held message with id {review_id} (see `fsl review`)", 1)


def listing_one(conn: Connection, review_id: int) -> list[dict[str, Any]]:
    q = (sa.select(reviews, actions.c.status.label("action_status"), actions.c.at.label("action_at"),
                   actions.c.channel, enrollments.c.status.label("enrollment_status"),
                   enrollments.c.reason.label("enrollment_reason"), enrollments.c.ended_at)
         .select_from(reviews.join(actions, actions.c.id == reviews.c.action_id)
                      .outerjoin(enrollments, enrollments.c.id == reviews.c.enrollment))
         .where(reviews.c.id == review_id))
    return [_public(dict(r)) for r in conn.execute(q).mappings()]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    row["reasons"] = json.loads(row["reasons"] or "[]")
    row["verdicts"] = json.loads(row["verdicts"]) if row.get("verdicts") else None
    row["stale"] = stale_reason(row)
    return row


def stale_reason(row: dict[str, Any]) -> str | None:
    """Why sending this now would go against a later decision of the playbook.

    A stop or pause rule cancels an enrollment's *pending* messages; a held
    one is not pending, so the check happens here, when a person is about to
    release it: a paused enrollment, or one stopped after the message was
    written, must not get it."""
    status, reason = row.get("enrollment_status"), row.get("enrollment_reason") or ""
    if status == "paused":
        return f"the enrollment is paused ({reason or 'pause rule'})"
    if status == "ended" and reason.startswith("stop") and (row.get("ended_at") or 0) >= (row.get("action_at") or 0):
        return f"the enrollment was stopped after this message was written ({reason})"
    return None


# ------------------------------------------------------------------ decisions

def _action(conn: Connection, review: dict) -> dict:
    row = conn.execute(sa.select(actions).where(actions.c.id == review["action_id"])).mappings().first()
    if row is None:
        raise ReviewError(f"the send of review {review['id']} no longer exists", 1)
    return dict(row)


def later_stop(conn: Connection, review: dict, stop_types: Iterable[str]) -> str | None:
    """An event of the contact, since the message was written, that a `stop on` or
    `pause on` of its playbook names (unsubscribed, replied, ...): had the message
    been pending, it would have been cancelled -- even if the enrollment has
    ended by now."""
    types = tuple(stop_types)
    if not types:
        return None
    row = conn.execute(sa.select(events.c.type, events.c.at)
                       .where(events.c.contact == review["contact"], events.c.type.in_(types),
                              events.c.at >= review["action_at"]).order_by(events.c.at).limit(1)).first()
    return f"the contact has a `{row.type}` event since this message was written" if row is not None else None


def _open(conn: Connection, review_id: int, verb: str, force: bool = False,
          stop_types: Iterable[str] = ()) -> tuple[dict, dict]:
    review = get(conn, review_id)
    review["stale"] = review["stale"] or later_stop(conn, review, stop_types)
    if review["status"] != OPEN:
        raise ReviewError(f"message {review_id} is {review['status']}, not held: nothing to {verb}", 1)
    action = _action(conn, review)
    if action["status"] not in ("held", "pending"):
        raise ReviewError(f"message {review_id} is being handed over right now ({action['status']}); "
                          "try again in a moment", 1)
    if verb != "reject" and review["stale"] and not force:
        raise ReviewError(f"message {review_id}: {review['stale']}; reject it, or pass --force to {verb} anyway", 1)
    return review, action


def approve(conn: Connection, review_id: int, by: str, *, subject: str | None = None, body: str | None = None,
            verdicts: list[dict] | None = None, force: bool = False, note: str | None = None,
            stop_types: Iterable[str] = ()) -> dict:
    """Approve the held draft (or the text given, for `edit`): the outbox sends exactly it.

    The action goes back to `pending` at its own instant (so the next tick
    takes it, whatever its clock), with its attempts reset: an outage's
    re-asks must not use up the channel's delivery retries."""
    review, action = _open(conn, review_id, "edit" if body is not None else "approve", force, stop_types)
    edited = body is not None
    subject = subject if subject is not None else review["subject"]
    body = body if edited else review["body"]
    if not body:
        raise ReviewError(f"message {review_id} has no draft to approve (the model never answered): "
                          "write one with `fsl review edit`, or `fsl review retry`", 1)
    at = wall()
    conn.execute(reviews.update().where(reviews.c.id == review_id)
                 .values(status="approved", subject=subject, body=body, updated_at=at, decided_at=at,
                         decided_by=by, note=note, retry_at=None))
    conn.execute(actions.update().where(actions.c.id == action["id"])
                 .values(status="pending", next_attempt_at=action["at"], attempts=0, last_error=None,
                         claimed_by=None, lease_until=None))
    entry: dict[str, Any] = {"review": review_id, "by": by, "edited": edited}
    if verdicts is not None:
        entry["verdicts"] = verdicts
    if note:
        entry["note"] = note
    if force:
        entry["forced"] = True
    journal_entry(conn, action, at, "review_edited" if edited else "review_approved", entry)
    return {**review, "status": "approved", "subject": subject, "body": body}


def reject(conn: Connection, review_id: int, by: str, note: str | None = None) -> dict:
    """Never send it; the action is `rejected` and the decision journaled."""
    review, action = _open(conn, review_id, "reject")
    at = wall()
    conn.execute(reviews.update().where(reviews.c.id == review_id)
                 .values(status="rejected", updated_at=at, decided_at=at, decided_by=by, note=note, retry_at=None))
    conn.execute(actions.update().where(actions.c.id == action["id"])
                 .values(status="rejected", next_attempt_at=None, claimed_by=None, lease_until=None,
                         last_error="rejected in review" + (f": {note}" if note else "")))
    journal_entry(conn, action, at, "review_rejected", {"review": review_id, "by": by, "note": note})
    return {**review, "status": "rejected"}


def for_retry(conn: Connection, review_id: int, force: bool = False,
              stop_types: Iterable[str] = ()) -> tuple[dict, dict]:
    """The review and its action, checked for `fsl review retry`."""
    return _open(conn, review_id, "retry", force, stop_types)


def release(conn: Connection, review: dict, action: dict, by: str, outcome: dict) -> None:
    """After a passing `retry`: the outbox sends the model's (cached) text at the next tick."""
    at = wall()
    conn.execute(reviews.update().where(reviews.c.id == review["id"])
                 .values(status="released", updated_at=at, decided_at=at, decided_by=by, retry_at=None,
                         verdicts=json.dumps(outcome, ensure_ascii=False, default=str), reasons="[]"))
    conn.execute(actions.update().where(actions.c.id == action["id"])
                 .values(status="pending", next_attempt_at=action["at"], attempts=0, last_error=None,
                         claimed_by=None, lease_until=None))
    journal_entry(conn, action, at, "llm_render", outcome)
    journal_entry(conn, action, at, "review_retry", {"review": review["id"], "by": by, "status": "released"})


def still_held(conn: Connection, review: dict, action: dict, held: Held, by: str) -> dict:
    """After a failing `retry`: the new verdicts replace the old; a guards failure holds the action."""
    at = wall()
    row = record_held(conn, action, held, at)
    if held.cause == "guards" or row["retry_at"] is None:
        conn.execute(actions.update().where(actions.c.id == action["id"])
                     .values(status="held", next_attempt_at=None, last_error="held for review: "
                             + "; ".join(held.reasons)))
    else:  # an outage: the outbox asks again by itself after the backoff
        conn.execute(actions.update().where(actions.c.id == action["id"])
                     .values(status="pending", next_attempt_at=row["retry_at"], attempts=0,
                             last_error="model unavailable: " + "; ".join(held.reasons)))
    journal_entry(conn, action, at, "llm_render", held.verdicts)
    journal_entry(conn, action, at, "review_retry", {"review": review["id"], "by": by, "status": "held",
                                                     "reasons": list(held.reasons)})
    return row
