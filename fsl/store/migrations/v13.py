"""Migration 13: the console's users, their sessions and failed logins (CONSOLE.md).

Frozen: the DDL as it was when version 13 was released, with its own
MetaData, so a later edit of schema.py cannot change what this migration
does (tests/test_migrations.py replays every version and compares the result
with a fresh store).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, text
from sqlalchemy.engine import Connection

metadata = MetaData()
ID = BigInteger().with_variant(Integer(), "sqlite")
Instant = BigInteger
Name = String(200)


def _partial(where: str) -> dict:
    return {"sqlite_where": text(where), "postgresql_where": text(where)}


users = Table(
    "users", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", Name, nullable=False),  # the login name
    Column("password_hash", Text, nullable=False),  # argon2id, salted (PHC string)
    Column("role", String(10), nullable=False),  # rep | manager | admin
    Column("team", Name),
    Column("owner_id", Name, nullable=False),  # what contacts' `owner` and tasks' assignee hold
    Column("timezone", String(64), nullable=False),
    Column("display_name", Text),
    Column("email", String(320)),
    Column("phone", String(64)),
    Column("signature", Text),
    Column("disabled_at", Instant),
    Column("created_at", Instant, nullable=False),
    UniqueConstraint("name", name="uq_users_name"),
    Index("ix_users_owner", "owner_id"),
    Index("ix_users_team", "team"),
)

sessions = Table(
    "sessions", metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the cookie's session id, never the id itself
    Column("user_id", BigInteger, nullable=False),
    Column("created_at", Instant, nullable=False),
    Column("seen_at", Instant, nullable=False),
    Column("address", String(64)),
    Index("ix_sessions_user", "user_id"),
)

login_failures = Table(
    "login_failures", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", Instant, nullable=False),
    Column("username", Name, nullable=False),  # as typed, lower case
    Column("address", String(64), nullable=False),
    Index("ix_login_failures_user", "username", "at"),
    Index("ix_login_failures_address", "address", "at"),
)


def apply(conn: Connection) -> None:
    """Three new tables and an index of open tasks per assignee (the console's /tasks)."""
    metadata.create_all(conn, checkfirst=True)
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_tasks_assignee ON tasks (assignee, due_at) "
                      "WHERE status = 'open'"))
