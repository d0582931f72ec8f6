"""Migration 8: split_decisions, the winners `pick winner by` found (v1.1).

Frozen: the DDL as it was when version 8 was released, with its own
MetaData, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text
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


def apply(conn: Connection) -> None:
    """One new table, nothing existing changes."""
    split_decisions.create(conn, checkfirst=True)
