"""Migration 14: contacts by email address (contact_emails), for the inbox's sender lookup.

Frozen: the DDL as it was when version 14 was released, with its own
MetaData (tests/test_migrations.py replays every version and compares the
result with a fresh store).  The backfill reads each contact's fields with the
codec of this version and normalises the address as contact_emails.email_key
did then (parseaddr's address, stripped, lower case, at most 320 characters).
"""
from __future__ import annotations

from email.utils import parseaddr

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHUNK = 5000


def _key(value: object) -> str | None:
    if not isinstance(value, str) or "@" not in value:
        return None
    addr = (parseaddr(value)[1] or value).strip().lower()
    return addr[:320] or None


def apply(conn: Connection) -> None:
    """A new table, filled from the contacts already stored; nothing existing changes."""
    from ..codec import loads

    md = sa.MetaData()
    table = sa.Table(
        "contact_emails", md,
        sa.Column("contact", sa.String(200), primary_key=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Index("ix_contact_emails_address", "address"),
    )
    md.create_all(conn)
    contacts = sa.table("contacts", sa.column("id"), sa.column("fields"))
    last = None
    while True:
        q = sa.select(contacts.c.id, contacts.c.fields).order_by(contacts.c.id).limit(CHUNK)
        rows = conn.execute(q.where(contacts.c.id > last) if last is not None else q).all()
        if not rows:
            return
        last = rows[-1][0]
        found = []
        for contact_id, text in rows:
            fields = loads(text)
            addr = _key(fields.get("email")) if isinstance(fields, dict) else None
            if addr:
                found.append({"contact": contact_id, "address": addr})
        if found:
            conn.execute(table.insert(), found)
