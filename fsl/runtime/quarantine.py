"""Rows set aside by the tick: one it cannot read never stops the others.

The engine isolates what raises while it decides (engine.py: an event is
flagged, an enrollment fails).  What raises outside it -- a row whose JSON
was edited by hand, a value the database refuses at write-back -- fails the
whole batch.  The tick then redoes the batch with one row (runtime.py,
`Runtime._isolated`); when that fails too, that row is set aside here, in a
transaction of its own, with the error in the journal:

* an event: kept, `done`, flagged `error` (`fsl status` lists it);
* a due enrollment: ended `failed`, its reason the error;
* an `enroll when` check: dropped (the contact's next data change brings it back).

A failure that is not about data (the database unreachable, a lock) is
raised as before.  So is a run of set-asides with nothing working in
between: that is a bug in fsl, not bad rows, and it must not fail them all.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from fsl.engine.errors import error_text
from fsl.store import Database
from fsl.store.codec import epoch
from fsl.store.schema import checks, enrollments, events, journal

MINUTE = 60
MAX_IN_A_ROW = 10


class _Run:
    count = 0  # set-asides since the last batch that went through (per process)


def is_data_error(exc: BaseException) -> bool:
    if isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError)):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, (sa.exc.SQLAlchemyError, OSError))


def went_through() -> None:
    _Run.count = 0


def _counted(exc: Exception) -> None:
    _Run.count += 1
    if _Run.count > MAX_IN_A_ROW:
        _Run.count = 0
        raise exc


def event(db: Database, t: datetime, exc: Exception) -> int:
    """Set aside the first pending event of t's minute or before; its row id."""
    _counted(exc)
    e = events.c
    with db.write() as conn:
        row = conn.execute(sa.select(e.id, e.contact, e.type).where(e.status == "pending", e.at < epoch(t) + MINUTE)
                           .order_by(e.at, e.id).limit(1)).first()
        if row is None:
            raise exc
        conn.execute(events.update().where(e.id == row.id).values(status="done", flag="error"))
        conn.execute(journal.insert().values(
            contact=row.contact, at=epoch(t), kind="warning", line=0,
            reason=f"event {row.type} (row {row.id}) could not be read ({error_text(exc)}): kept, not acted on"))
    return row.id


def due(db: Database, t: datetime, exc: Exception) -> int:
    """End `failed` the first enrollment due at t, in the tick's order."""
    _counted(exc)
    e = enrollments.c
    with db.write() as conn:
        row = conn.execute(sa.select(e.id, e.contact, e.playbook).where(e.wake_at.is_not(None), e.wake_at <= epoch(t))
                           .order_by(e.wake_at, e.rank, e.playbook, e.contact, e.id).limit(1)).first()
        if row is None:
            raise exc
        reason = f"error: {error_text(exc)}"
        conn.execute(enrollments.update().where(e.id == row.id).values(
            status="ended", outcome="failed", reason=reason, ended_at=epoch(t), wake_at=None))
        conn.execute(journal.insert().values(enrollment=row.id, contact=row.contact, playbook=row.playbook,
                                             at=epoch(t), kind="ended", reason=f"ended as failed: {reason}", line=0))
    return 1


def check(db: Database, t: datetime, exc: Exception) -> int:
    """Drop the first `enroll when` check due at t."""
    _counted(exc)
    k = checks.c
    with db.write() as conn:
        row = conn.execute(sa.select(k.playbook, k.contact, k.deal).where(k.at <= epoch(t))
                           .order_by(k.at, k.rank, k.playbook, k.contact, k.deal).limit(1)).first()
        if row is None:
            raise exc
        conn.execute(checks.delete().where(k.playbook == row.playbook, k.contact == row.contact, k.deal == row.deal))
        conn.execute(journal.insert().values(
            contact=row.contact, playbook=row.playbook, at=epoch(t), kind="warning", line=0,
            reason=f"{row.playbook}: enroll when of {row.contact} could not be read ({error_text(exc)}); "
                   "looked at again when its data changes"))
    return 1
