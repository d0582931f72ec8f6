"""A stop is immediate (SIGNALS.md, opening rules): after `ingest_now` commits a
stop or a pause, no further message of that enrollment may reach a channel
once the caller has its answer.

The engine withdraws the enrollment's `pending` messages in the transaction
that records the event, and marks its claimed (`sending`) ones
(`last_error` starting `withdraw: `, fsl/store/writeback.py).  Such a
message may be on its way to the channel at that very moment: it cannot be
called back, so the answer waits until it has settled (handed over before
the answer: allowed).
A claim whose claimer is dead, or whose lease ran out, would be handed over
again later by `claims.recover`: it is withdrawn here instead (`cancelled`).
The tick helps from its side: just before it hands a claimed message to a
network channel it looks at the row's mark once more (`withdrawn_before_hand_over`),
so a stop that committed meanwhile withdraws the message instead of waiting
for it; only the message already on the wire goes out before the answer.
A hand-over that does not settle within `WAIT_SECONDS` raises `StillHandingOver`
(the server answers 503: the event is recorded, and the caller's retry,
deduplicated, waits again).
"""
from __future__ import annotations

import time
from typing import Any, Iterable

import sqlalchemy as sa

from fsl.engine.model import Event
from fsl.store.schema import actions

from .claims import MARKED as _MARKED, WITHDRAWN, owner_alive

WAIT_SECONDS = 20.0  # longer than one SMTP hand-over normally takes; shorter than a provider's HTTP timeout
POLL_SECONDS = 0.01


class StillHandingOver(Exception):
    """A message of a stopped enrollment is still being handed over."""


def _in_flight(conn: Any, contacts: set[str], ids: set[int]) -> list[Any]:
    a = actions.c
    concerned = sa.or_(a.contact.in_(sorted(contacts)) if contacts else sa.false(),
                       a.enrollment.in_(sorted(ids)) if ids else sa.false())
    q = sa.select(a.id, a.claimed_by, a.lease_until).where(a.status == "sending", _MARKED, concerned)
    return list(conn.execute(q))


def await_withdrawn(db: Any, evs: Iterable[Event], wait: float | None = None) -> None:
    """Return once no message that a stop or pause among these events' enrollments marked
    is being handed over; raise StillHandingOver after `wait` seconds."""
    contacts = {e.contact for e in evs if e.contact is not None}
    ids = {e.enrollment for e in evs if e.enrollment is not None}
    if not contacts and not ids:
        return
    deadline = time.monotonic() + (WAIT_SECONDS if wait is None else wait)
    while True:
        with db.read() as conn:
            rows = _in_flight(conn, contacts, ids)
        if not rows:
            return
        wall = int(time.time())
        orphans = [r.id for r in rows if (r.lease_until or 0) < wall or not owner_alive(r.claimed_by)]
        if orphans:  # no one is handing these over: withdraw them rather than let recover() resend them
            with db.write() as conn:
                conn.execute(actions.update().where(actions.c.id.in_(orphans), actions.c.status == "sending")
                             .values(status="cancelled", claimed_by=None, lease_until=None, last_error=WITHDRAWN))
            continue
        if time.monotonic() >= deadline:
            raise StillHandingOver(f"{len(rows)} message(s) of a stopped enrollment still being handed over")
        time.sleep(POLL_SECONDS)


def withdrawn_before_hand_over(db: Any, key: str, token: str) -> bool:
    """Whether the claimed message `key` was withdrawn (now `cancelled`) because a stop or
    pause marked it after the claim: one read by key, and a write only then."""
    a = actions.c
    with db.read() as conn:
        marked = conn.execute(sa.select(a.id).where(a.key == key, a.status == "sending", _MARKED)).first()
    if marked is None:
        return False
    with db.write() as conn:
        done = conn.execute(actions.update().where(a.key == key, a.status == "sending", a.claimed_by == token)
                            .values(status="cancelled", claimed_by=None, lease_until=None, last_error=WITHDRAWN))
    return done.rowcount == 1

