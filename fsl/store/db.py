"""Connections and transactions: one place that knows SQLite from PostgreSQL.

SQLite (the embedded default) runs in WAL mode, so readers (`fsl status`)
never block the tick and the tick never blocks them.  Every writer opens its
transaction with BEGIN IMMEDIATE: it takes the database's single write lock
*before* reading what it will change, so two ticks can never both read the
same due enrollment as due -- the second one waits (busy timeout) and then
sees the first one's result.  That one rule is what makes overlapping ticks
safe on SQLite.

On PostgreSQL the same guarantee comes, for now, from a transaction-scoped
advisory lock taken by every writer (the equivalent of SQLite's write lock).
Spreading the work over many workers (`FOR UPDATE SKIP LOCKED` on due rows)
is the next step; the code above this module does not change for it.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_MS = 60_000
_PG_WRITE_LOCK = 0x46534C  # "FSL": the advisory lock of writers on PostgreSQL


class StoreError(Exception):
    """The store cannot be used (bad URL, unreachable, wrong schema)."""


class Database:
    """An SQLAlchemy engine plus the transaction discipline of the runtime."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _make_engine(url, echo)
        self.dialect = self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self.engine.connect() as conn:
            conn.execution_options(fsl_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both databases)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _make_engine(url: str, echo: bool) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except Exception as exc:  # noqa: BLE001 - any unparsable URL
        raise StoreError(f"cannot read the store URL {url!r}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(parsed, echo)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            engine = sa.create_engine(parsed, echo=echo, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - a missing driver, a bad option
            raise StoreError(f"cannot use the store {url!r}: {exc}") from None

        @event.listens_for(engine, "begin")
        def _pg_begin(conn: Connection) -> None:
            if conn.get_execution_options().get("fsl_write"):
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")

        return engine
    raise StoreError(f"unsupported store {url!r}: expected sqlite:///FILE or postgresql://...")


def _sqlite(parsed: sa.engine.URL, echo: bool) -> Engine:
    database = parsed.database or ""
    memory = database in ("", ":memory:")
    if not memory and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        if not folder.is_dir():
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of the store {database}: {exc.strerror}") from None
    kwargs: dict = {"echo": echo, "connect_args": {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool  # one shared in-memory database
    engine = sa.create_engine(parsed, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL);
        # a power cut may roll back the last commits, never corrupt the file.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MB page cache per connection
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("fsl_write")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def insert_ignore(db: Database, table: sa.Table) -> sa.Insert:
    """INSERT that skips rows whose unique key exists (an idempotency guard)."""
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert(table).on_conflict_do_nothing()
    if db.dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        return insert(table).on_conflict_do_nothing()
    return table.insert()


def upsert(db: Database, table: sa.Table, keys: list[str], columns: list[str]) -> sa.Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET columns = excluded.columns."""
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: getattr(stmt.excluded, c) for c in columns})
