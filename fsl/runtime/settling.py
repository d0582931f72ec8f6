"""Recording what became of a hand-over: the rows' outcomes, in bulk.

`Settled` is one outcome as `Outbox._decide` makes it; `record` writes a
list of them (rows still ours only, the caller checks) and `count` adds them
to a tick's report.  `Outcomes` and `Deferred` carry the outcomes a delivery
process leaves to its tick (see `Outcomes` for why).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa

from fsl.engine.model import ActionRecord, Contact, Deal
from fsl.store import bulk
from fsl.store.codec import epoch
from fsl.store.db import insert_ignore
from fsl.store.members import one_of
from fsl.store.schema import actions, events, tasks

from .host import TickReport

@dataclass(slots=True)
class Item:
    """One claimed action on its way to a channel."""

    key: str
    rec: ActionRecord
    vars: dict
    contact: Contact | None
    deal: Deal | None
    attempts: int  # this hand-over included
    id: int | None = None  # the row id, when loaded from the table


class OutboxView(Protocol):
    """What `Deferred` reads of the outbox that made it (outbox.Outbox)."""

    now: Any
    report: TickReport
    runtime: Any
    helper: Any


SETTLED = ("status", "next_attempt_at", "last_error", "delivered_at", "message_id", "claimed_by", "lease_until",
           "provider_id", "bounce")
_PROVIDER_ID = SETTLED.index("provider_id")  # a delivery with a provider's reply is written with it, not in bulk


@dataclass(slots=True)
class Settled:
    """The recorded outcome of one hand-over: its row's `SETTLED` values (then
    the key), the to-do item of a delivered task, the failure to report, and
    the event the server's verdict records (an `events` row, pending: the
    engine ingests it as any `fsl event`), written in the same transaction."""

    key: str
    update: tuple
    task: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    event: dict[str, Any] | None = None


class Outcomes:
    """Outcomes of a delivery process that the tick writes (on SQLite).

    Why: SQLite has one writer at a time, and every commit of another
    connection empties the tick's page cache, so a child settling in its own
    transactions slowed the engine down by more than the rows cost when the
    engine's next batch writes them: plain deliveries (the bulk) in one
    UPDATE, at ~2 us a row.  Only for batch-settled channels (local,
    idempotent by key): a crash before that batch commits hands them over
    again, which they absorb.  Network channels are settled by the child
    itself, each message before the next, as in-process.

    `ids`/`mids`: rows delivered (with the Message-ID of an smtp channel, or
    None); `others`: retries, failures and delivered to-do items."""

    __slots__ = ("ids", "mids", "others")

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.mids: list[str | None] = []
        self.others: list[Settled] = []

    def __len__(self) -> int:
        return len(self.ids) + len(self.others)

    def add(self, item: Item, s: Settled) -> None:
        if s.update[0] == "delivered" and s.task is None and s.update[_PROVIDER_ID] is None and item.id is not None:
            self.ids.append(item.id)
            self.mids.append(s.update[4])
        else:
            self.others.append(s)

    def extend(self, other: "Outcomes") -> None:
        self.ids += other.ids
        self.mids += other.mids
        self.others += other.others


class Deferred:
    """Outcomes written in an engine batch's transaction (Runtime._batch):
    `write` inside it, `done` after its commit, `put_back` when it failed."""

    def __init__(self, outbox: OutboxView, token: str, outcomes: Outcomes) -> None:
        self.outbox, self.token, self.outcomes = outbox, token, outcomes
        self.delivered = 0
        self.written: list[Settled] = []

    def write(self, conn) -> None:
        o = self.outcomes
        self.delivered = _delivered(conn, o.ids, o.mids, self.token, epoch(self.outbox.now))
        if o.others:
            mine = ours(conn, [s.key for s in o.others], self.token)  # taken back meanwhile: not ours
            self.written = [s for s in o.others if s.key in mine]
            record(self.outbox.runtime.db, conn, self.written)

    def done(self) -> None:
        self.outbox.report.delivered += self.delivered
        count(self.outbox.report, self.written)

    def put_back(self) -> None:
        helper = self.outbox.helper
        if helper is not None and helper.token == self.token:
            self.outcomes.extend(helper.take_outcomes())
            helper.outcomes = self.outcomes
        # else the process is retired: its rows are taken back and handed over again


def _delivered(conn, ids: list[int], mids: list[str | None], token: str, at: int) -> int:
    """Rows `ids` still claimed by `token` -> delivered (with their Message-IDs):
    one statement per 500 rows, a rowid lookup each; the count of rows changed."""
    n = 0
    for i in range(0, len(ids), 500):
        values = [v for pair in zip(ids[i:i + 500], mids[i:i + 500]) for v in pair]
        rows = ", ".join(["(?, ?)"] * (len(values) // 2))
        n += conn.exec_driver_sql(
            "UPDATE actions SET status = 'delivered', delivered_at = ?, message_id = v.column2, "
            "claimed_by = NULL, lease_until = NULL, next_attempt_at = NULL, last_error = NULL "
            f"FROM (VALUES {rows}) AS v WHERE actions.id = v.column1 AND actions.status = 'sending' "
            "AND actions.claimed_by = ?", (at, *values, token)).rowcount
    return n


def ours(conn, keys: list[str], token: str) -> set[str]:
    a = actions.c
    return set(conn.execute(sa.select(a.key).where(one_of(conn, a.key, keys), a.status == "sending",
                                                   a.claimed_by == token)).scalars())


def record(db, conn, done: list[Settled]) -> None:
    bulk.update(conn, actions, SETTLED, "key", [s.update for s in done])
    new_tasks = [s.task for s in done if s.task is not None]
    if new_tasks:
        conn.execute(insert_ignore(db, tasks), new_tasks)
    verdicts = [s.event for s in done if s.event is not None]
    if verdicts:
        conn.execute(events.insert(), verdicts)


def count(report: TickReport, done: list[Settled]) -> None:
    for s in done:
        status = s.update[0]
        if status == "delivered":
            report.delivered += 1
        elif status == "pending":
            report.retried += 1
        else:
            report.failed += 1
            if s.failure is not None:  # every failed one has it (outbox.py)
                report.failures.append(s.failure)
