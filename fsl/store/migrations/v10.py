"""Migration 10: the inbox's state (last UID per mailbox and UIDVALIDITY) and its unmatched mail.

Frozen: the DDL as it was when version 10 was written, with its own MetaData
(tests/test_migrations.py replays every version and compares the result with
a fresh store).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, UniqueConstraint
from sqlalchemy.engine import Connection

metadata = MetaData()
Instant = BigInteger
ID = BigInteger().with_variant(Integer(), "sqlite")

inbox_state = Table(  # the last UID read per mailbox and UIDVALIDITY (SIGNALS.md 3); schema v10
    "inbox_state", metadata,
    Column("mailbox", String(400), primary_key=True),  # user@host/folder
    Column("uidvalidity", BigInteger, primary_key=True),
    Column("last_uid", BigInteger, nullable=False),
    Column("at", Instant, nullable=False),
)

inbox_unmatched = Table(  # mail that names no message or contact we know: kept, reported; schema v10
    "inbox_unmatched", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("dedup", String(300), nullable=False),  # inbox:<Message-ID> or inbox:sha256:<hash>
    Column("mailbox", String(400), nullable=False),
    Column("uid", BigInteger),
    Column("at", Instant, nullable=False),  # when it was read
    Column("sender", String(320)),
    Column("subject", Text),
    Column("label", String(40), nullable=False),  # what the classifier made of it
    Column("evidence", Text, nullable=False),  # JSON list
    Column("headers", Text, nullable=False),  # the message's header block, as received (bounded)
    UniqueConstraint("dedup", name="uq_inbox_unmatched_dedup"),
)


def apply(conn: Connection) -> None:
    """Two new tables, and an index on `actions.message_id`: every reply is matched by the
    Message-ID it answers (In-Reply-To), which without it is a scan of the whole outbox."""
    inbox_state.create(conn, checkfirst=True)
    inbox_unmatched.create(conn, checkfirst=True)
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_actions_message_id ON actions (message_id)")
