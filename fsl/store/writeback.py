"""The end of a batch: every change of the working set written in one go.

Called by `SqlStore.flush` inside the batch's transaction.  Each kind of row
is written with one executemany, in an order that keeps the idempotency
guards meaningful: actions are inserted (a duplicate key is skipped, never
raised) before cancellations run, so a stop rule in the same batch also
cancels what the batch itself had just queued.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

import sqlalchemy as sa

from . import rows as R
from .codec import dumps, epoch
from .db import insert_ignore, upsert
from .schema import actions, checks, contacts, deals, enrollments, events, journal, stakeholders

if TYPE_CHECKING:
    from .sqlstore import SqlStore

_CHANGING = ("status", "rank", "wake_at", "ended_at", "outcome", "reason", "state", "plan_hash")


def write_back(store: "SqlStore") -> None:
    conn = store._c()
    now = epoch(datetime.now(timezone.utc))
    _enrollments(store, conn)
    _contacts_and_deals(store, conn, now)
    _events(store, conn, now)
    if store._actions:
        conn.execute(insert_ignore(store.db, actions), [R.action_row(rec, v) for rec, v in store._actions])
    if store._cancels:
        stmt = (actions.update()
                .where(actions.c.enrollment == sa.bindparam("b_enrollment"), actions.c.status == "pending")
                .values(status="cancelled", last_error=sa.bindparam("b_reason"), next_attempt_at=None))
        conn.execute(stmt, [{"b_enrollment": e, "b_reason": f"cancelled: {r}"} for e, r in store._cancels.items()])
    if store._journal:
        conn.execute(journal.insert(), [R.journal_row(j) for j in store._journal])
    _checks(store, conn)


def _enrollments(store: "SqlStore", conn) -> None:
    new, changed = [], []
    for eid, en in store._enr.items():
        rank = store._rank.get(eid)
        row = R.enrollment_row(en, store._wake.get(eid), rank if rank is not None else store.rank_of(en))
        if eid in store._new_enr:
            new.append(row)
            continue
        values = tuple(row[k] for k in _CHANGING)
        if values != store._enr_snap.get(eid):
            update = {k: row[k] for k in _CHANGING}
            update["b_id"] = eid
            changed.append(update)
    if new:
        conn.execute(enrollments.insert(), new)
    if changed:
        conn.execute(enrollments.update().where(enrollments.c.id == sa.bindparam("b_id")), changed)


def _contacts_and_deals(store: "SqlStore", conn, now: int) -> None:
    changed = []
    for cid, contact in store._contacts.items():
        if contact is None:
            continue
        text = dumps(contact.fields)
        if text != store._contact_snap.get(cid):
            changed.append({"b_id": cid, "fields": text, "version": contact.version, "updated_at": now})
    if changed:
        conn.execute(contacts.update().where(contacts.c.id == sa.bindparam("b_id")), changed)
    for did, deal in store._deals.items():
        if deal is None:
            continue
        text, stakes = dumps(deal.fields), dumps(deal.stakeholders)
        old = store._deal_snap.get(did)
        if old is None or text != old[0]:
            conn.execute(deals.update().where(deals.c.id == did).values(fields=text, updated_at=now))
        if old is None or stakes != old[1]:
            conn.execute(stakeholders.delete().where(stakeholders.c.deal == did))
            if deal.stakeholders:
                conn.execute(stakeholders.insert(), [{"deal": did, "contact": cid, "fields": dumps(f)}
                                                     for cid, f in deal.stakeholders.items()])


def _events(store: "SqlStore", conn, now: int) -> None:
    if store._claimed:
        conn.execute(
            events.update().where(events.c.id == sa.bindparam("b_id")),
            [{"b_id": rid, "status": "done", "at": epoch(e.at), "enrollment": e.enrollment,
              "flag": store._flags.get(rid)} for rid, e in store._claimed.items()])
    if store._new_events:
        conn.execute(events.insert(), [R.event_row(e, "done", flag, now) for e, flag in store._new_events])


def _checks(store: "SqlStore", conn) -> None:
    gone, due = [], []
    for (_, playbook, contact, deal), (at, rank) in store._checks.items():
        key = {"playbook": playbook, "contact": contact, "deal": deal or ""}
        if at is None:
            gone.append({f"b_{k}": v for k, v in key.items()})
        else:
            due.append({**key, "at": epoch(at), "rank": rank})
    if gone:
        c = checks.c
        conn.execute(checks.delete().where(c.playbook == sa.bindparam("b_playbook"),
                                           c.contact == sa.bindparam("b_contact"),
                                           c.deal == sa.bindparam("b_deal")), gone)
    if due:
        conn.execute(upsert(store.db, checks, ["playbook", "contact", "deal"], ["at", "rank"]), due)
