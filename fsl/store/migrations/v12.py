"""Migration 12: human engagement by local hour, for `send at best time` (v1.1).

Frozen: the DDL as it was when version 12 was released, with its own
MetaData (tests/test_migrations.py replays every version and compares the
result with a fresh store).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table
from sqlalchemy.engine import Connection

metadata = MetaData()
Name = String(200)

engagement = Table(
    "engagement", metadata,
    Column("contact", Name, primary_key=True),
    Column("hour", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)
engagement_totals = Table(
    "engagement_totals", metadata,
    Column("hour", Integer, primary_key=True, autoincrement=False),
    Column("n", BigInteger, nullable=False),
)


def apply(conn: Connection) -> None:
    """Two new tables, empty: the counts start with the events applied from now
    on (events already applied were counted by no one; `send at best time`
    falls back to sending when due while the project holds none)."""
    engagement.create(conn, checkfirst=True)
    engagement_totals.create(conn, checkfirst=True)
