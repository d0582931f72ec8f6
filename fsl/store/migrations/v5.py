"""Migration 5: suppressions, the addresses that bounced hard.

Frozen: the DDL as it was when version 5 was released, with its own
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

suppressions = Table(  # addresses that bounced hard: no send goes to them again (fsl.engine.suppression); schema v5
    "suppressions", metadata,
    Column("address", String(320), primary_key=True),  # normalized: trimmed, lower case
    Column("at", Instant, nullable=False),  # the bounce's instant
    Column("contact", Name),  # whose message bounced
    Column("reason", Text, nullable=False),  # the bounce event, as `fsl explain` shows it
)


def apply(conn: Connection) -> None:
    """One new table, nothing existing changes."""
    suppressions.create(conn, checkfirst=True)
