"""Migration 7: user keys starting with `$` escaped in stored JSON.

Frozen: written as it was when version 7 was released, never reading
schema.py, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .v4 import JSON_COLUMNS


def apply(conn: Connection) -> None:
    """User keys starting with `$` are written with one `$` more (codec._escaped),
    so that user data never reads as a tag.  A text an older fsl wrote reads
    the same today unless it holds a key starting with `$$` (it would lose a
    `$`): SQL finds the texts with `"$$`, Python rewrites them as they read before."""
    from ..codec import dumps, loads_v4

    for table, key, col in JSON_COLUMNS:
        keys = [k.strip() for k in key.split(",")]
        found = conn.execute(sa.text(f"SELECT {key}, {col} FROM {table} WHERE {col} LIKE :escaped"),
                             {"escaped": '%"$$%'})
        fixes = [(row[:-1], dumps(loads_v4(row[-1]))) for row in found]
        where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(keys))
        if fixes:
            conn.execute(sa.text(f"UPDATE {table} SET {col} = :text WHERE {where}"),
                         [{"text": text, **{f"k{i}": v for i, v in enumerate(m)}} for m, text in fixes])
