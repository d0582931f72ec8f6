"""Migration 4: JSON holding integers beyond 64 bits marked for the exact decoder.

Frozen: written as it was when version 4 was released, never reading
schema.py, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

JSON_COLUMNS = (("contacts", "id", "fields"), ("deals", "id", "fields"), ("stakeholders", "deal, contact", "fields"),
                 ("events", "id", "fields"), ("enrollments", "id", "state"), ("actions", "key", "payload"))


def apply(conn: Connection) -> None:
    """JSON texts holding an integer beyond 64 bits get codec.SLOW_PATH at their
    end, so that the faster decoder (orjson) leaves them to the exact one.
    Only texts with a run of twenty digits can hold one: SQL finds those, Python
    decides."""
    from ..codec import SLOW_PATH, needs_slow_path

    twenty = ("{col} ~ '[0-9]{{20}}'" if conn.dialect.name == "postgresql"
              else "{col} GLOB '*" + "[0-9]" * 20 + "*'")
    for table, key, col in JSON_COLUMNS:
        keys = [k.strip() for k in key.split(",")]
        found = conn.exec_driver_sql(f"SELECT {key}, {col} FROM {table} WHERE {twenty.format(col=col)}")
        marks = [row[:-1] for row in found if not row[-1].endswith(SLOW_PATH) and needs_slow_path(row[-1])]
        where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(keys))
        if marks:
            conn.execute(sa.text(f"UPDATE {table} SET {col} = {col} || :mark WHERE {where}"),
                         [{"mark": SLOW_PATH, **{f"k{i}": v for i, v in enumerate(m)}} for m in marks])
