"""The end of a batch: every change of the working set written in one go.

Called by `SqlStore.flush` inside the batch's transaction.  Each kind of row
is written with one executemany, in an order that keeps the idempotency
guards meaningful: actions are inserted (a duplicate key is skipped, never
raised) before cancellations run, so a stop rule in the same batch also
cancels what the batch itself had just queued.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Protocol

import sqlalchemy as sa

from . import bulk, email_keys
from . import rows as R
from .codec import dumps, epoch
from .db import upsert
from .schema import actions, checks, contacts, deals, enrollments, events, journal, split_sends, stakeholders

# `last_error` of a claimed (`sending`) message whose enrollment a stop or pause rule cancelled
WITHDRAW = "withdraw: "



class Batch(Protocol):
    """What write-back reads of a batch's working set (SqlStore provides it).

    A protocol here, below the store, so that the store depends on its
    write-back and not the other way round."""

    db: Any
    claim_as: Callable[[], Any] | None
    _actions: list
    _cancels: dict
    _journal: list
    _enr: dict
    _rank: dict
    _wake: dict
    _new_enr: set
    _enr_snap: dict
    _outgoing: list
    _contacts: dict
    _deals: dict
    _contact_snap: dict
    _deal_snap: dict
    _claimed: dict
    _flags: dict
    _new_events: list
    _checks: dict
    _engaged_new: Any

    def _c(self) -> Any: ...

    def rank_of(self, en: Any) -> Any: ...

_ENROLLMENT = tuple(c.name for c in enrollments.columns)
_JOURNAL = ("enrollment", "contact", "playbook", "step", "at", "kind", "reason", "line")


def write_back(store: Batch) -> None:
    conn = store._c()
    now = epoch(datetime.now(timezone.utc))
    _enrollments(store, conn)
    _contacts_and_deals(store, conn, now)
    _events(store, conn, now)
    if store._actions:
        _actions(store, conn)
    if store._cancels:
        stmt = (actions.update()
                .where(actions.c.enrollment == sa.bindparam("b_enrollment"), actions.c.status == "pending")
                .values(status="cancelled", last_error=sa.bindparam("b_reason"), next_attempt_at=None))
        conn.execute(stmt, [{"b_enrollment": e, "b_reason": f"cancelled: {r}"} for e, r in store._cancels.items()])
        # a message already claimed may be on its way: marked, so that its hand-over is skipped if it
        # has not started, and `fsl serve` waits for it if it has (fsl/runtime/withdrawal.py)
        mark = (actions.update()
                .where(actions.c.enrollment == sa.bindparam("b_enrollment"), actions.c.status == "sending")
                .values(last_error=sa.bindparam("b_reason")))
        conn.execute(mark, [{"b_enrollment": e, "b_reason": f"{WITHDRAW}{r}"} for e, r in store._cancels.items()])
    if store._journal:
        bulk.insert(conn, journal, _JOURNAL, ((j.enrollment, j.contact, j.playbook, j.step, epoch(j.at), j.kind,
                                               j.reason, j.line or 0) for j in store._journal))
    _checks(store, conn)
    if store._engaged_new:
        _engagement(store, conn)


def _engagement(store: Batch, conn) -> None:
    """Add this batch's human engagement to the counts (an upsert that adds, so
    concurrent workers' batches both count)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO engagement (contact, hour, n) VALUES ({mark}, {mark}, {mark}) "
        "ON CONFLICT (contact, hour) DO UPDATE SET n = engagement.n + excluded.n",
        [(c, h, n) for (c, h), n in sorted(store._engaged_new.items())])
    totals: dict[int, int] = {}
    for (_, h), n in store._engaged_new.items():
        totals[h] = totals.get(h, 0) + n
    conn.exec_driver_sql(
        f"INSERT INTO engagement_totals (hour, n) VALUES ({mark}, {mark}) "
        "ON CONFLICT (hour) DO UPDATE SET n = engagement_totals.n + excluded.n", sorted(totals.items()))


def _enrollments(store: Batch, conn) -> None:
    """New enrollments inserted; changed ones updated in the columns that changed
    only, one executemany per set of columns.  Why not all of them: SQLite
    rewrites an index whenever the UPDATE names one of its columns, changed or
    not, and a step usually moves only `wake_at` and `state` -- naming the other
    six columns rewrote two more indexes per step (playbook/status/outcome and
    the open-plan one) and made the update three times slower.  PostgreSQL
    likewise keeps a row on its page (a HOT update) only when no indexed column
    is named."""
    new: list[tuple] = []
    changed: dict[tuple[str, ...], list[tuple]] = {}
    for eid, en in store._enr.items():
        rank = store._rank.get(eid)
        wake, rank = store._wake.get(eid), rank if rank is not None else store.rank_of(en)
        if eid in store._new_enr:
            row = R.enrollment_row(en, wake, rank)
            new.append(tuple(row[c] for c in _ENROLLMENT))
            continue
        values = R.enrollment_changes(en, wake, rank)
        before = store._enr_snap.get(eid)
        if values != before:
            columns, moved = _differences(values, before)
            changed.setdefault(columns, []).append((*moved, eid))
    if new:
        bulk.insert(conn, enrollments, _ENROLLMENT, new)
    for columns, rows in changed.items():
        bulk.update(conn, enrollments, columns, "id", rows)


def _differences(values: tuple, before: tuple | None) -> tuple[tuple[str, ...], list]:
    """The CHANGING columns whose values differ from the row as read, and their new values."""
    if before is None:
        return R.CHANGING, list(values)
    pairs = [(c, v) for c, v, b in zip(R.CHANGING, values, before) if v != b]
    return tuple(c for c, _ in pairs), [v for _, v in pairs]


def _actions(store: Batch, conn) -> None:
    """New actions: `pending` for the outbox, or already claimed by the tick
    (store.claim_as) and queued for hand-over after the commit; cancelled at
    once when a stop or pause rule of this batch cancelled their enrollment's."""
    claim = store.claim_as() if store.claim_as is not None else None
    rows = []
    for rec, vars in store._actions:
        cancelled = store._cancels.get(rec.enrollment) if R.is_deliverable(rec) else None
        if cancelled is not None:
            rows.append(R.action_values(rec, vars, "cancelled", last_error=f"cancelled: {cancelled}"))
        elif claim is not None and R.is_deliverable(rec):
            row = R.action_values(rec, vars, "sending", attempts=1, claimed_by=claim[0], lease_until=claim[1])
            rows.append(row)
            store._outgoing.append((row[0], rec, vars, store._contacts.get(rec.contact),
                                    store._deals.get(rec.deal) if rec.deal is not None else None))
        else:
            rows.append(R.action_values(rec, vars))
    bulk.insert(conn, actions, R.ACTION, rows, ignore=True)
    # a split's test reads its sends from this list, not from an index of every send (schema v15)
    tagged = [(rec.playbook, rec.step, row[0]) for (rec, _), row in zip(store._actions, rows)
              if rec.kind == "send" and rec.data and "split" in rec.data]
    if tagged:
        bulk.insert(conn, split_sends, ("playbook", "step", "action_key"), tagged, ignore=True)


def _contacts_and_deals(store: Batch, conn, now: int) -> None:
    """Contacts changed when their version moved (model.py: the engine bumps it
    on every change); deals have no version and are compared as JSON."""
    moved = [c for cid, c in store._contacts.items() if c is not None and c.version != store._contact_snap.get(cid)]
    keys = email_keys.keys_of([c.fields for c in moved])
    bulk.update(conn, contacts, ("fields", "version", "updated_at", "email_key"), "id",
                [(dumps(c.fields), c.version, now, key, c.id) for c, key in zip(moved, keys)])
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


def _events(store: Batch, conn, now: int) -> None:
    if store._claimed:
        bulk.update(conn, events, ("status", "at", "enrollment", "flag"), "id",
                    [("done", epoch(e.at), e.enrollment, store._flags.get(rid), rid)
                     for rid, e in store._claimed.items()])
    if store._new_events:
        conn.execute(events.insert(), [R.event_row(e, "done", flag, now) for e, flag in store._new_events])


def _checks(store: Batch, conn) -> None:
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
