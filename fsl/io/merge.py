"""How an imported contact or deal updates the stored one.

An import names some fields; the others keep their stored values, so a CSV
with `id,tier` re-grades contacts without wiping their names.  Equal data
is no change (the caller can skip the write, and a contact's `version`,
which invalidates cached time zones, only moves on a real change).
"""
from __future__ import annotations

from fsl.engine.model import Contact, Deal


def merge_contact(stored: Contact | None, imported: Contact) -> tuple[Contact, bool]:
    """(the contact to store, whether anything changed).  A new contact is `imported`
    itself: the import's objects are its own, and a million copies cost a second."""
    if stored is None:
        return imported, True
    fields = {**stored.fields, **imported.fields}
    if fields == stored.fields:
        return stored, False
    return Contact(stored.id, fields, stored.version + 1), True


def merge_deal(stored: Deal | None, imported: Deal, replace_stakeholders: bool) -> tuple[Deal, bool]:
    """(the deal to store, whether anything changed).  With `replace_stakeholders`
    the import lists the deal's stakeholders completely (a contact left out is
    unlinked); each listed stakeholder's fields still merge with the stored ones."""
    if stored is None:
        return Deal(imported.id, dict(imported.fields), dict(imported.stakeholders)), True
    fields = {**stored.fields, **imported.fields}
    if replace_stakeholders:
        links = {cid: {**stored.stakeholders.get(cid, {}), **rec} for cid, rec in imported.stakeholders.items()}
    else:
        links = {**stored.stakeholders, **{cid: {**stored.stakeholders.get(cid, {}), **rec}
                                           for cid, rec in imported.stakeholders.items()}}
    if fields == stored.fields and links == stored.stakeholders:
        return stored, False
    return Deal(stored.id, fields, links), True
