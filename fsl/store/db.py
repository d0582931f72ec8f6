"""Connections and transactions: one place that knows SQLite from PostgreSQL.

SQLite (the embedded default) runs in WAL mode, so readers (`fsl status`)
never block the tick and the tick never blocks them.  Every writer opens its
transaction with BEGIN IMMEDIATE: it takes the database's single write lock
*before* reading what it will change, so two ticks can never both read the
same due enrollment as due -- the second one waits (busy timeout) and then
sees the first one's result.  That one rule is what makes overlapping ticks
safe on SQLite.

On PostgreSQL every writer takes a transaction-scoped advisory lock, the
"writer lock", in one of two modes:

* **exclusive** (the default, the equivalent of SQLite's write lock): deploys,
  imports, `fsl enroll`, the outbox's recovery, the clock.  Rare writers whose
  correctness then needs no further thought.
* **shared**, inside `db.sharing()`: the tick's batches and deliveries.  Any
  number of workers hold it at once; they exclude each other per row and per
  contact / deal instead (fsl/store/lease.py: `FOR UPDATE SKIP LOCKED` claims
  plus contact and deal advisory locks).  An exclusive writer waits for the
  running batches and holds new ones back, so it never sees half a batch.

Every PostgreSQL session also gets `idle_in_transaction_session_timeout`
and TCP keepalives: a worker cut from the database (no FIN ever reaches the
server) loses its transaction -- and with it every row and advisory lock it
held -- after IDLE_TRANSACTION_SECONDS at most.  A SIGKILLed worker's socket is closed
by its kernel, so the server releases its locks at once.
"""
from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from fsl.redaction import Redactor

if TYPE_CHECKING:  # the dialects are imported where a statement needs one
    from sqlalchemy.dialects import postgresql, sqlite

BUSY_TIMEOUT_MS = 60_000
_PG_WRITE_LOCK = 0x46534C  # "FSL": the advisory lock of writers on PostgreSQL
# A PostgreSQL transaction idle this long (its worker hung or cut off) is
# aborted by the server: the lease deadline of every row lock it held.
IDLE_TRANSACTION_SECONDS = 30


class StoreError(Exception):
    """The store cannot be used (bad URL, unreachable, wrong schema)."""


# scheme://user:PASSWORD@host...: the password runs to the authority's last '@'
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][\w+.-]*://[^:/@?#]*:)(?P<secret>[^/?#]*)(?=@[^@/?#]*(?:[/?#]|$))")


def safe_url(url: str) -> str:
    """The store URL with its password masked, even when SQLAlchemy cannot parse it."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL still has a password to hide
        return _PASSWORD.sub(lambda m: m.group("head") + "***", url)


def redact(text: str, url: str) -> str:
    """`text` (an error about `url`) with the URL masked and its password nowhere:
    drivers and SQLAlchemy may quote either in their messages."""
    secrets = set()
    found = _PASSWORD.match(url)
    if found and found.group("secret"):
        secrets |= {found.group("secret"), unquote(found.group("secret"))}
    try:
        password = sa.engine.make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    if password:
        secrets.add(str(password))
    return Redactor(secrets, shortest=1)(text.replace(url, safe_url(url)), limit=2000)


class Database:
    """An SQLAlchemy engine plus the transaction discipline of the runtime."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _make_engine(url, echo)
        self.dialect = self.engine.dialect.name
        self._shared = threading.local()
        # Entered around every write transaction when set: the write turns of
        # a tick and its delivery process on one SQLite file (turns.py).
        self.gate: Callable[[], ContextManager[None]] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def one_connection(self) -> bool:
        """Whether every session shares one connection (an in-memory SQLite
        store): then no second thread may read while this one works."""
        return isinstance(self.engine.pool, StaticPool)

    @property
    def shared(self) -> bool:
        """Whether writes of this thread take the writer lock in shared mode (PostgreSQL)."""
        return self.dialect == "postgresql" and getattr(self._shared, "on", False)

    @contextmanager
    def sharing(self) -> Iterator[None]:
        """Writes in this block (this thread) take the writer lock in shared mode:
        the caller promises to lock what it touches per row / contact / deal."""
        before = getattr(self._shared, "on", False)
        self._shared.on = True
        try:
            yield
        finally:
            self._shared.on = before

    @contextmanager
    def write(self, *, exclusive: bool = False) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error.
        `exclusive` takes the whole writer lock even inside `sharing()`."""
        with self.gate() if self.gate is not None else nullcontext():
            with self.engine.connect() as conn:
                conn.execution_options(fsl_write="shared" if self.shared and not exclusive else "exclusive")
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
        raise StoreError(redact(f"cannot read the store URL {safe_url(url)!r}: {exc}", url)) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite(parsed, echo)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            engine = sa.create_engine(parsed, echo=echo, pool_pre_ping=True)
        except Exception as exc:  # noqa: BLE001 - a missing driver, a bad option
            raise StoreError(redact(f"cannot use the store {safe_url(url)!r}: {exc}", url)) from None

        @event.listens_for(engine, "connect")
        def _pg_connect(dbapi_conn, _record) -> None:
            with dbapi_conn.cursor() as cur:
                cur.execute(f"SET idle_in_transaction_session_timeout = '{IDLE_TRANSACTION_SECONDS}s'")
                # psycopg prepares a statement run 5 times; a generic plan of the
                # batch's IN-list lookups can be a scan of the whole table: plan each.
                cur.execute("SET plan_cache_mode = force_custom_plan")
                cur.execute("SET tcp_keepalives_idle = 10")
                cur.execute("SET tcp_keepalives_interval = 5")
                cur.execute("SET tcp_keepalives_count = 3")
            dbapi_conn.commit()

        @event.listens_for(engine, "begin")
        def _pg_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("fsl_write")
            if mode == "shared":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({_PG_WRITE_LOCK})")
            elif mode:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITE_LOCK})")

        return engine
    raise StoreError(f"unsupported store {safe_url(url)!r}: expected sqlite:///FILE or postgresql://...")


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
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if db.dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    return table.insert()


def upsert(db: Database, table: sa.Table, keys: list[str], columns: list[str]) -> sa.Insert:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET columns = excluded.columns."""
    # Both dialects' Insert have on_conflict_do_update and excluded, with the same arguments.
    stmt: postgresql.Insert | sqlite.Insert
    if db.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        stmt = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        stmt = sqlite_insert(table)
    return stmt.on_conflict_do_update(index_elements=keys,
                                      set_={c: getattr(stmt.excluded, c) for c in columns})
