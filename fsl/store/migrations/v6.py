"""Migration 6: the server's verdict kept with each outbox row.

Frozen: written as it was when version 6 was released, never reading
schema.py, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def apply(conn: Connection) -> None:
    """The provider's reference at hand-over and the bounce kind.  Two nullable
    columns: existing rows keep NULL, which is what they would have had
    (nothing was recorded then)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("actions")}
    for name, kind in (("provider_id", "VARCHAR(300)"), ("bounce", "VARCHAR(10)")):
        if name not in have:
            conn.exec_driver_sql(f"ALTER TABLE actions ADD COLUMN {name} {kind}")
