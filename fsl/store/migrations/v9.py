"""Migration 9: tracked messages (their links, the instant of hand-over) and tracking hits.

Frozen: written as it was when version 9 was released, never reading
schema.py (tests/test_migrations.py replays every version and compares the
result with a fresh store).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def apply(conn: Connection) -> None:
    """Two new tables; nothing existing changes.

    `tracked_messages`: one row per email rewritten for tracking, written
    before it is handed to its channel: the URLs it carries (so a click
    redirects to exactly those), the index of its hidden trap link, and the
    wall-clock instant of the hand-over in milliseconds.
    `tracking_hits`: every request on a message's tracking URLs (the trap
    too), the timing evidence of the machine classification."""
    md = sa.MetaData()
    ident = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    sa.Table(
        "tracked_messages", md,
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("links", sa.Text, nullable=False),
        sa.Column("trap", sa.Integer, nullable=False),
        sa.Column("handed_at_ms", sa.BigInteger, nullable=False),
    )
    sa.Table(
        "tracking_hits", md,
        sa.Column("id", ident, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("link", sa.Integer),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("machine", sa.Integer, nullable=False),
        sa.Index("ix_tracking_hits_key", "key", "at_ms"),
    )
    md.create_all(conn)
