"""Contacts by their email address: the inbox's sender lookup (SIGNALS.md 3), without a scan.

A contact's address lives inside its JSON `fields`; finding the contact of a
sender by it would read every contact's JSON (json_extract on SQLite,
json ->> on PostgreSQL: no plain index applies, and an expression index over
the JSON would make a contact with text the database's JSON parser refuses
unwritable).  So every write of a contact's fields also writes its address,
normalised as `email_key` says, to `contact_emails`, indexed by address: the
three places contacts are written (sqlstore.put_contact, put_contacts and
writeback) call `write`.  Schema v14 filled it for the contacts already there.
"""
from __future__ import annotations

from email.utils import parseaddr
from typing import Any, Iterable, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.delivery.address import plain_address

from . import bulk
from .schema import contact_emails

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


def write(conn: Connection, contacts: Iterable[tuple[str, dict]]) -> None:
    """Keep `contact_emails` in step with the contacts just written: (id, fields) pairs."""
    contacts = list(contacts)
    keep = _all_plain(contacts)
    if keep is not None:
        bulk.upsert(conn, contact_emails, ("contact", "address"), "contact", keep)
        return
    keep, drop = [], []
    for contact_id, fields in contacts:
        addr = email_key(fields.get(FIELD)) if isinstance(fields, dict) else None
        (keep.append((contact_id, addr)) if addr else drop.append(contact_id))
    bulk.upsert(conn, contact_emails, ("contact", "address"), "contact", keep)
    for start in range(0, len(drop), 500):
        conn.execute(contact_emails.delete().where(contact_emails.c.contact.in_(drop[start:start + 500])))


def _all_plain(contacts: list[tuple[str, dict]]) -> list[tuple[str, str]] | None:
    """(id, key) of each contact when every one has a plain address (email_key's first
    case, checked a batch at once: an import's chunk), else None."""
    if not all(type(fields) is dict for _, fields in contacts):
        return None
    values = [fields.get(FIELD) for _, fields in contacts]
    if not values or set(map(type, values)) != {str}:
        return None
    given = cast(list[str], values)
    if max(map(len, given)) > MAX_ADDRESS:
        return None
    if not all(map(plain_address, given)):  # (a plain address has its "@")
        return None
    return list(zip([contact_id for contact_id, _ in contacts], map(str.lower, given)))


def contacts_of(conn: Connection, address: str) -> list[str]:
    """The contacts whose address is `address` (an `email_key`), by id."""
    key = email_key(address)
    if key is None:
        return []
    return sorted(conn.execute(sa.select(contact_emails.c.contact).where(contact_emails.c.address == key)).scalars())
