"""Migration 11: split_decisions, the winners `pick winner by` found (v1.1),
and an index of the sends by (playbook, step), which the test reads.

Frozen: the DDL as it was when version 11 was released, with its own
MetaData, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, Text, text
from sqlalchemy.engine import Connection

metadata = MetaData()
Instant = BigInteger
Name = String(200)

split_decisions = Table(  # the winner of each split with `pick winner by`, recorded once (fsl.engine.experiments)
    "split_decisions", metadata,
    Column("playbook", Name, primary_key=True),
    Column("split", Name, primary_key=True),
    Column("winner", Name, nullable=False),  # the variant later splits take
    Column("decided_at", Instant, nullable=False),  # the instant the sequential test found it
    Column("figures", Text, nullable=False),  # JSON: the test's figures at that instant
)


# only the columns the new index names: the table itself exists since version 1
actions = Table("actions", metadata, Column("playbook", Name), Column("step", Name), Column("kind", String(10)))
_where = "kind = 'send'"
ix_actions_sends = Index("ix_actions_sends", actions.c.playbook, actions.c.step,
                         sqlite_where=text(_where), postgresql_where=text(_where))


def apply(conn: Connection) -> None:
    """One new table and one index; no data changes."""
    split_decisions.create(conn, checkfirst=True)
    ix_actions_sends.create(conn, checkfirst=True)
