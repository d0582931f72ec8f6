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

Each migration is a module `vN.py` of this package with an `apply(conn)`,
frozen once released: it holds its DDL as it was then (its own MetaData), never
schema.py's live tables. To add one (see fsl/store/README.md, "Adding a
migration"): write `vN.py`, change schema.py to match, add `Migration(N, ...)`
to MIGRATIONS; tests/test_migrations.py then replays every version and checks
that the upgraded store equals a fresh one, on SQLite and PostgreSQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..db import Database, StoreError
from ..schema import meta, metadata
from . import v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13, v14, v15, v16


@dataclass(frozen=True)
class Migration:
    version: int  # the version the database has after it
    description: str
    apply: Callable[[Connection], None]


MIGRATIONS: list[Migration] = [
    Migration(1, "the initial schema: plans, contacts, deals, events, enrollments, checks, "
                 "actions (outbox), tasks, journal, render cache, ticks", v1.apply),
    Migration(2, "reviews: the review queue of model-written (renderer: llm) sends", v2.apply),
    Migration(3, "scale-out: enrollment ids from a sequence (PostgreSQL; nothing changes on SQLite)", v3.apply),
    Migration(4, "JSON holding integers beyond 64 bits marked for the exact decoder (codec.py)", v4.apply),
    Migration(5, "suppressions: addresses that bounced hard, never sent to again", v5.apply),
    Migration(6, "actions: the provider's reference at hand-over and the bounce kind (SMTP verdicts)", v6.apply),
    Migration(7, "user keys starting with $ escaped in JSON, so that user data never reads as a tag (codec.py)",
              v7.apply),
    Migration(8, "events: their source (tracking, a provider, the inbox), the evidence of their "
                 "classification, and a dedup key (a provider's event id, a mail's Message-ID)", v8.apply),
    Migration(9, "tracked messages (their links, the wall-clock hand-over) and tracking hits: exact "
                 "click redirects and the human-or-machine evidence (SIGNALS.md 1)", v9.apply),
    Migration(10, "inbox: the last UID read per mailbox and UIDVALIDITY, and the mail that matched nothing",
              v10.apply),
    Migration(11, "split_decisions: the winners of `split ... pick winner by` (v1.1 experiments)", v11.apply),
    Migration(12, "engagement: human engagement by local hour, per contact and for the project "
                 "(send at best time)", v12.apply),
    Migration(13, "users, sessions and failed logins of the console; open tasks indexed per assignee", v13.apply),
    Migration(14, "contact_emails: each contact's email address, normalised and indexed, so the inbox "
                  "finds a sender's contact without reading every contact's JSON", v14.apply),
    Migration(15, "actions: no index of every Message-ID (new ones name their enrollment; the older ones keep "
                  "a partial index) nor of every send (split_sends lists a split's sends)", v15.apply),
    Migration(16, "contacts.email_key: the normalised address moves from contact_emails into the contact's "
                  "row, under a partial index (one index per contact written instead of a table)", v16.apply),
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
