"""Migration 16: a contact's email key moves from contact_emails (v14) into `contacts`.

The inbox's lookup is the same (the contacts whose normalised address is the
sender's); what changes is what each write of a contact pays: one partial
index on a column of `contacts` instead of a second table with its
primary-key index and its address index (fsl/store/email_keys.py).  The keys
are copied as v14 computed them; contact_emails is then dropped.

Frozen: the DDL as it was when version 16 was written (tests/test_migrations.py
replays every version and compares the result with a fresh store).
"""
from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, inspect, text
from sqlalchemy.engine import Connection

metadata = MetaData()
_where = text("email_key IS NOT NULL")
# only the column the migration adds: the table itself exists since version 1
contacts = Table("contacts", metadata, Column("email_key", String(320)))
ix_contacts_email_key = Index("ix_contacts_email_key", contacts.c.email_key,
                              sqlite_where=_where, postgresql_where=_where)


def apply(conn: Connection) -> None:
    """Add the column, copy the keys, index them, drop the old table (each step
    skipped when done already: a store stamped older than it is runs it again)."""
    found = inspect(conn)
    if "email_key" not in {c["name"] for c in found.get_columns("contacts")}:
        conn.exec_driver_sql("ALTER TABLE contacts ADD COLUMN email_key VARCHAR(320)")
    if found.has_table("contact_emails"):
        conn.exec_driver_sql("UPDATE contacts SET email_key = "
                             "(SELECT address FROM contact_emails WHERE contact_emails.contact = contacts.id)")
        conn.exec_driver_sql("DROP TABLE contact_emails")
    ix_contacts_email_key.create(conn, checkfirst=True)
