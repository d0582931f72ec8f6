"""Contacts by their email address: the inbox's sender lookup (SIGNALS.md 3), without a scan.

A contact's address lives inside its JSON `fields`; finding the contact of a
sender by it would read every contact's JSON (json_extract on SQLite,
json ->> on PostgreSQL: no plain index applies, and an expression index over
the JSON would make a contact with text the database's JSON parser refuses
unwritable).  So every write of a contact's fields also writes its address,
normalised as `email_key` says, to the contact's own `email_key` column,
under a partial index (`ix_contacts_email_key`, the contacts that have one).
The three places contacts are written (sqlstore.put_contact, put_contacts
and writeback) take the column from `keys_of`.

Schema v14 kept the addresses in a table of their own (contact_emails); v16
moved them into `contacts`: the same lookup, at one index per contact
written instead of a second table with two (an import of a million
contacts paid as much for that table as for the contacts themselves).
"""
from __future__ import annotations

from email.utils import parseaddr
from typing import Any, Sequence, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.delivery.address import plain_address

from .schema import contacts

FIELD = "email"  # the contact field the SMTP channel sends to (engine/recipients.py)
MAX_ADDRESS = 320


def email_key(value: Any) -> str | None:
    """An address as the inbox compares it: the bare address of `Name <addr>`, lower case."""
    if not isinstance(value, str) or "@" not in value:
        return None
    if plain_address(value):  # `name@host.example`, which parseaddr returns as it is (an import writes millions)
        addr = value.lower()
    else:
        addr = (parseaddr(value)[1] or value).strip().lower()
    return addr[:MAX_ADDRESS] or None


def keys_of(fields: Sequence[Any]) -> list[str | None]:
    """`email_key` of each contact's address (its fields, in order): a batch whose
    addresses are all plain (an import's chunk) is keyed at once."""
    if all(type(f) is dict for f in fields):
        values = [f.get(FIELD) for f in fields]
        if values and set(map(type, values)) == {str}:
            given = cast(list[str], values)
            if max(map(len, given)) <= MAX_ADDRESS and all(map(plain_address, given)):  # (each has its "@")
                return list(map(str.lower, given))
    return [email_key(f.get(FIELD)) if isinstance(f, dict) else None for f in fields]


def contacts_of(conn: Connection, address: str) -> list[str]:
    """The contacts whose address is `address` (an `email_key`), by id."""
    key = email_key(address)
    if key is None:
        return []
    q = sa.select(contacts.c.id).where(contacts.c.email_key == key).order_by(contacts.c.id)
    return list(conn.execute(q).scalars())
