"""Migration 2: reviews, the review queue of model-written (renderer: llm) sends.

Frozen: the DDL as it was when version 2 was released, with its own
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


reviews = Table(  # renderer: llm sends the guards or an outage held (fsl.llm.review); schema v2
    "reviews", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("action_id", BigInteger, nullable=False),  # actions.id: the send this is about
    Column("action_key", String(400), nullable=False),
    Column("enrollment", BigInteger, nullable=False),
    Column("contact", Name, nullable=False),
    Column("deal", Name),
    Column("playbook", Name, nullable=False),
    Column("step", Name, nullable=False),
    Column("template", Name),
    # held | approved | rejected | sent  (approved = waiting in the outbox with the text below)
    Column("status", String(10), nullable=False),
    Column("cause", String(20), nullable=False),  # guards | model_unavailable
    Column("reasons", Text, nullable=False),  # JSON list of strings
    Column("subject", Text),  # the last draft (held) or the approved text
    Column("body", Text),
    Column("verdicts", Text),  # JSON: the render's journal record (fsl.llm.render.RenderOutcome.to_journal)
    Column("asks", Integer, nullable=False, default=0),  # model outages in a row (backoff)
    Column("retry_at", Instant),  # model_unavailable: when the outbox asks again; NULL = wait for a person
    Column("created_at", Instant, nullable=False),
    Column("updated_at", Instant, nullable=False),
    Column("decided_at", Instant),
    Column("decided_by", String(200)),
    Column("note", Text),
    UniqueConstraint("action_key", name="uq_reviews_action"),  # one review per send, ever
    Index("ix_reviews_open", "created_at", **_partial("status = 'held'")),
)


def apply(conn: Connection) -> None:
    """One new table, nothing existing changes (a held send's action row gets status `held`)."""
    reviews.create(conn, checkfirst=True)
