"""The production store: SQLAlchemy Core over SQLite (default) or PostgreSQL.

| module | concern |
| --- | --- |
| `db.py` | connections; SQLite WAL + BEGIN IMMEDIATE writers; PostgreSQL writer lock |
| `schema.py` | the tables and their (partial) indexes |
| `migrations/` | schema versions, the frozen migrations (`vN.py`), `fsl db upgrade`, refusing newer schemas |
| `codec.py` | instants as epoch seconds, JSON (orjson) with tagged datetimes / dates / durations |
| `rows.py` | model objects <-> rows |
| `sqlstore.py` | `SqlStore`: the engine's `Store` protocol, a write-behind working set per transaction |
| `history.py` | send history for caps, message resolution |
| `writeback.py` | the batch's changes written with executemany |
| `bulk.py` | executemany on the driver for the rows a batch writes by the thousand |
| `members.py` | `column IN values` with one bound parameter (json_each / = ANY) |
| `lease.py` | row and advisory locks when several workers share PostgreSQL |
| `segment_sql.py`, `segment_checks.py` | `enroll when` as SQL; checks that cannot match moved on in SQL |
| `turns.py` | write turns between a tick and its delivery process on one SQLite file |
| `plans.py` | plans by hash, the current plan of each playbook, meta values |
| `cache.py` | the LLM render cache table |
| `queries.py` | read-side queries of `fsl status`, `explain`, `tasks` |

`open_store(url)` is the entry point: it checks (or, for an empty database,
creates) the schema and returns the `Database`.
"""
from __future__ import annotations

from .db import Database, StoreError, redact, safe_url
from .migrations import SchemaTooNew, SchemaTooOld, ensure, schema_version, upgrade
from .sqlstore import SqlStore


def open_store(url: str, create: bool = True) -> Database:
    """A database ready for the runtime; raises StoreError (or a subclass)."""
    db = Database(url)
    try:
        ensure(db, create=create)
    except StoreError:
        db.dispose()
        raise
    except Exception as exc:  # noqa: BLE001 - unreachable server, unreadable file, ...
        db.dispose()
        raise StoreError(redact(f"cannot open the store {safe_url(url)}: {exc.__class__.__name__}: {exc}", url)) from None
    return db


__all__ = ["Database", "SchemaTooNew", "SchemaTooOld", "SqlStore", "StoreError", "open_store",
           "schema_version", "upgrade"]
