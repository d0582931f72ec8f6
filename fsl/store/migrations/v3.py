"""Migration 3: scale-out: enrollment ids from a sequence (PostgreSQL).

Frozen: written as it was when version 3 was released, never reading
schema.py, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

from sqlalchemy.engine import Connection


def apply(conn: Connection) -> None:
    """Scale-out (fsl.store.lease): enrollment ids from a sequence on PostgreSQL,
    starting after the ids already given.  Nothing to do on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("CREATE SEQUENCE IF NOT EXISTS fsl_enrollment_ids")
    conn.exec_driver_sql("SELECT setval('fsl_enrollment_ids', (SELECT COALESCE(max(id), 0) + 1 FROM enrollments), "
                         "false)")
