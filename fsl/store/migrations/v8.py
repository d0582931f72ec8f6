"""Migration 8: where each event came from, why it was classified so, and its dedup key.

Frozen: written as it was when version 8 was released, never reading
schema.py (tests/test_migrations.py replays every version and compares the
result with a fresh store).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def apply(conn: Connection) -> None:
    """Three nullable columns on `events` and a unique index on the dedup key.

    Existing rows keep NULL: they came from `fsl event`/imports, which have no
    source to name, no classification evidence and no provider id.  NULLs never
    collide in a unique index (SQLite and PostgreSQL alike), so only signals
    that carry a key are deduplicated."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("events")}
    for name, kind in (("source", "VARCHAR(40)"), ("evidence", "TEXT"), ("dedup", "VARCHAR(300)")):
        if name not in have:
            conn.exec_driver_sql(f"ALTER TABLE events ADD COLUMN {name} {kind}")
    conn.exec_driver_sql("CREATE UNIQUE INDEX IF NOT EXISTS ux_events_dedup ON events (dedup)")
