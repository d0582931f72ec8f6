"""Schema versions: a meta table, an ordered list of migrations, `fsl db upgrade`.

* `fsl_meta.schema_version` is the version of the schema in the database.
* A fresh (empty) database is created from schema.py and stamped with
  SCHEMA_VERSION: creating the current tables directly is the same result as
  replaying every migration, and cannot drift from schema.py.
* An older database is brought up to date by running the migrations after
  its version, in order, each in its own transaction together with the new
  version number -- so a migration interrupted half-way leaves the previous
  version intact and is simply run again.
* A database written by a *newer* fsl (a version this code does not know) is
  refused: running on it could corrupt what the newer code relies on.
* The runtime never migrates on its own: a tick on an older schema stops and
  asks for `fsl db upgrade` (migrations can be long, and an operator wants to
  choose the moment).  Only an empty database is created implicitly.

A later release adds `Migration(N, "what it does", function)` to MIGRATIONS,
changes schema.py to match, and raises nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database, StoreError
from .schema import meta, metadata, reviews


@dataclass(frozen=True)
class Migration:
    version: int  # the version the database has after it
    description: str
    apply: Callable[[Connection], None]


def _v1(conn: Connection) -> None:  # pragma: no cover - version 1 is created fresh
    metadata.create_all(conn)


def _v2(conn: Connection) -> None:
    """The review queue of model-written sends (fsl.llm.review): one new table,
    nothing existing changes (a held send's action row gets status `held`)."""
    reviews.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    """Scale-out (fsl.store.lease): enrollment ids from a sequence on PostgreSQL,
    starting after the ids already given.  Nothing to do on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("CREATE SEQUENCE IF NOT EXISTS fsl_enrollment_ids")
    conn.exec_driver_sql("SELECT setval('fsl_enrollment_ids', (SELECT COALESCE(max(id), 0) + 1 FROM enrollments), "
                         "false)")


_JSON_COLUMNS = (("contacts", "id", "fields"), ("deals", "id", "fields"), ("stakeholders", "deal, contact", "fields"),
                 ("events", "id", "fields"), ("enrollments", "id", "state"), ("actions", "key", "payload"))


def _v4(conn: Connection) -> None:
    """JSON texts holding an integer beyond 64 bits get codec.SLOW_PATH at their
    end, so that the faster decoder (orjson) leaves them to the exact one.
    Only texts with a run of twenty digits can hold one: SQL finds those, Python
    decides."""
    from .codec import SLOW_PATH, needs_slow_path

    twenty = ("{col} ~ '[0-9]{{20}}'" if conn.dialect.name == "postgresql"
              else "{col} GLOB '*" + "[0-9]" * 20 + "*'")
    for table, key, col in _JSON_COLUMNS:
        keys = [k.strip() for k in key.split(",")]
        found = conn.exec_driver_sql(f"SELECT {key}, {col} FROM {table} WHERE {twenty.format(col=col)}")
        marks = [row[:-1] for row in found if not row[-1].endswith(SLOW_PATH) and needs_slow_path(row[-1])]
        where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(keys))
        if marks:
            conn.execute(sa.text(f"UPDATE {table} SET {col} = {col} || :mark WHERE {where}"),
                         [{"mark": SLOW_PATH, **{f"k{i}": v for i, v in enumerate(m)}} for m in marks])


def _v5(conn: Connection) -> None:
    """User keys starting with `$` are written with one `$` more (codec._escaped),
    so that user data never reads as a tag.  A text an older fsl wrote reads
    the same today unless it holds a key starting with `$$` (it would lose a
    `$`): SQL finds the texts with `"$$`, Python rewrites them as they read before."""
    from .codec import dumps, loads_v4

    for table, key, col in _JSON_COLUMNS:
        keys = [k.strip() for k in key.split(",")]
        found = conn.execute(sa.text(f"SELECT {key}, {col} FROM {table} WHERE {col} LIKE :escaped"),
                             {"escaped": '%"$$%'})
        fixes = [(row[:-1], dumps(loads_v4(row[-1]))) for row in found]
        where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(keys))
        if fixes:
            conn.execute(sa.text(f"UPDATE {table} SET {col} = :text WHERE {where}"),
                         [{"text": text, **{f"k{i}": v for i, v in enumerate(m)}} for m, text in fixes])


MIGRATIONS: list[Migration] = [
    Migration(1, "the initial schema: plans, contacts, deals, events, enrollments, checks, "
                 "actions (outbox), tasks, journal, render cache, ticks", _v1),
    Migration(2, "reviews: the review queue of model-written (renderer: llm) sends", _v2),
    Migration(3, "scale-out: enrollment ids from a sequence (PostgreSQL; nothing changes on SQLite)", _v3),
    Migration(4, "JSON holding integers beyond 64 bits marked for the exact decoder (codec.py)", _v4),
    Migration(5, "user keys starting with $ escaped in JSON, so that user data never reads as a tag (codec.py)",
              _v5),
]


def schema_version() -> int:
    """The version this code writes and reads."""
    return MIGRATIONS[-1].version


class SchemaTooNew(StoreError):
    pass


class SchemaTooOld(StoreError):
    pass


def current_version(conn: Connection) -> int | None:
    """The database's schema version; None when it holds no fsl schema at all."""
    if not sa.inspect(conn).has_table(meta.name):
        return None
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row is not None else None


def _stamp(conn: Connection, version: int) -> None:
    updated = conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version)))
    if updated.rowcount == 0:
        conn.execute(meta.insert().values(key="schema_version", value=str(version)))


def upgrade(db: Database) -> tuple[int | None, int, list[Migration]]:
    """Create or migrate to the current schema: (version before, after, migrations run)."""
    known = schema_version()
    with db.write() as conn:
        before = current_version(conn)
        if before is None:
            _refuse_foreign(conn)
            metadata.create_all(conn)
            _stamp(conn, known)
            return None, known, []
    if before > known:
        raise SchemaTooNew(_too_new(before, known))
    ran: list[Migration] = []
    for m in MIGRATIONS:
        if m.version <= before:
            continue
        with db.write() as conn:
            version = current_version(conn)
            if version is not None and version >= m.version:  # another process did it meanwhile
                continue
            m.apply(conn)
            _stamp(conn, m.version)
        ran.append(m)
    return before, known, ran


def ensure(db: Database, create: bool = True) -> int:
    """Check that the database has exactly the schema this code knows.

    An empty database is created (when `create`); an older one raises
    SchemaTooOld (run `fsl db upgrade`), a newer one SchemaTooNew."""
    known = schema_version()
    with db.read() as conn:
        version = current_version(conn)
    if version is None:
        if not create:
            raise SchemaTooOld("the store has no fsl schema yet: run `fsl db upgrade` (or `fsl deploy`)")
        upgrade(db)
        return known
    if version > known:
        raise SchemaTooNew(_too_new(version, known))
    if version < known:
        raise SchemaTooOld(f"the store has schema version {version}, this fsl needs {known}: "
                           "run `fsl db upgrade`")
    return version


def _too_new(version: int, known: int) -> str:
    return (f"the store has schema version {version}, newer than this fsl knows ({known}); "
            "it was written by a later release: upgrade fsl, do not run this one on it")


def _refuse_foreign(conn: Connection) -> None:
    """An existing database with other tables and no fsl meta is not ours to fill."""
    names = set(sa.inspect(conn).get_table_names())
    ours = set(metadata.tables)
    if names & ours:
        raise StoreError("the database has fsl tables but no schema version; "
                         "it was not created by fsl, or its fsl_meta table was lost")
