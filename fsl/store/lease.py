"""Leases for many workers on one PostgreSQL store.

Why: with one writer lock every worker but one waits.  Inside
`Database.sharing()` the tick's batches take that lock in *shared* mode and
exclude each other at a finer grain, the pattern of river / solid_queue /
pgmq plus one rule for caps:

* **Rows.** Due enrollments, pending events, due `enroll when` checks and
  outbox rows are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` in the
  batch's own short transaction: a worker never waits for another's rows, it
  takes the next ones.  The lease is the transaction: committed, the work is
  done and recorded at once; killed (SIGKILL closes the socket) or cut off
  (`idle_in_transaction_session_timeout`, db.IDLE_TRANSACTION_SECONDS), it is rolled
  back and the rows are due again -- nothing executed, nothing stuck.
* **Contacts and deals.** Caps count a contact's sends across playbooks
  (global caps) and a deal's sends across its stakeholders (`across deal`).
  Two enrollments of one contact (or one deal) decided at the same instant
  on two workers would both see the cap free.  So an enrollment, event or
  check is claimed only together with a transaction-scoped advisory lock on
  its contact and on its deal: `pg_try_advisory_xact_lock` evaluated in the
  claim's WHERE clause, so a busy contact is skipped like a locked row and
  claims never wait (no deadlock between claims).  What a batch reads beyond
  its claim (a deal's other stakeholders, an enrollment an event names) is
  locked with the blocking form before it is read; two batches that lock
  such extras in opposite orders are a deadlock PostgreSQL detects, and the
  tick redoes the aborted batch (runtime.py).
* **Rule of writing.** A batch modifies an enrollment only holding the lock
  of its contact and, if it has one, of its deal; a contact's or deal's row
  only holding its lock.  Each lock is taken before the rows it guards are
  read, so what a batch reads cannot change under it.

Outbox rows are claimed the same way (`claim_outbox`); their lease after the
claim commits is the existing wall-clock `lease_until` of outbox.py.
"""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .members import one_of
from .schema import actions

CONTACT = 0x46534C01  # advisory lock namespaces (first key of the two-int form)
DEAL = 0x46534C02


def try_locks(table: sa.Table, deal_blank: str | None = None) -> list[sa.ColumnElement]:
    """WHERE terms: lock the row's contact and deal or skip the row."""
    c = table.c
    terms: list[sa.ColumnElement] = [sa.or_(c.contact.is_(None),
                                            sa.func.pg_try_advisory_xact_lock(CONTACT, sa.func.hashtext(c.contact)))]
    no_deal = c.deal.is_(None) if deal_blank is None else c.deal == deal_blank
    terms.append(sa.or_(no_deal, sa.func.pg_try_advisory_xact_lock(DEAL, sa.func.hashtext(c.deal))))
    return terms


def lock(conn: Connection, namespace: int, ids: Iterable[str]) -> None:
    """Wait for the locks of these contacts / deals, in sorted order."""
    todo = sorted({i for i in ids if i})
    if todo:
        conn.exec_driver_sql(
            "SELECT count(pg_advisory_xact_lock(%s, hashtext(x))) FROM (SELECT unnest(%s::text[]) AS x "
            "ORDER BY 1) s", (namespace, todo))


def pending_event_contacts(conn: Connection, contact_ids: list[str], before: int) -> set[str]:
    """Contacts with an event not applied yet at the instant: their due steps wait for it
    (an event of a step's minute is ingested before the step, RUNTIME.md section 3)."""
    if not contact_ids:
        return set()
    q = ("SELECT DISTINCT contact FROM events WHERE status = 'pending' AND at < %s "
         "AND contact = ANY(%s::text[])")
    return {r[0] for r in conn.exec_driver_sql(q, (before, sorted(set(contact_ids))))}


def next_ids(conn: Connection, n: int) -> list[int]:
    """Enrollment ids from the sequence (many writers: max + 1 would collide)."""
    return [r[0] for r in conn.exec_driver_sql(
        "SELECT nextval('fsl_enrollment_ids') FROM generate_series(1, %s)", (n,))]


def claim_outbox(conn: Connection, now: int, limit: int, token: str, lease_until: int) -> list:
    """Claim due `pending` outbox rows no other worker is claiming; returns them."""
    a = actions.c
    ids = list(conn.execute(sa.select(a.id).where(a.status == "pending", a.next_attempt_at <= now)
                            .order_by(a.next_attempt_at, a.id).limit(limit)
                            .with_for_update(skip_locked=True)).scalars())
    if not ids:
        return []
    conn.execute(actions.update().where(one_of(conn, a.id, ids))
                 .values(status="sending", claimed_by=token, lease_until=lease_until, attempts=a.attempts + 1))
    return list(conn.execute(sa.select(actions).where(one_of(conn, a.id, ids)).order_by(a.next_attempt_at, a.id))
                .mappings())
