"""Who a send goes to: the playbook's `to`, else the contact field the channel
addresses. The engine needs it (a hard-bounced address is suppressed for every
later send, engine/suppression.py) and so does delivery (render.py): one home,
below both.
"""
from __future__ import annotations

from typing import Any, Mapping

from .model import Contact

# the contact field each adapter sends to, unless the channel names another (`recipient_field`)
DEFAULT_RECIPIENT_FIELD = {"smtp": "email", "webhook": "phone"}


def recipient(to: Any, contact: Contact, adapter: str, field: str | None = None) -> str | None:
    """The playbook's `to`, else the contact field the channel addresses."""
    explicit = address_text(to)
    if explicit:
        return explicit
    name = field or DEFAULT_RECIPIENT_FIELD.get(adapter)
    return address_text(contact.fields.get(str(name))) if name else None


def address_text(value: Any) -> str | None:
    """A `to` value as text: a string, a record's email (or id), a list joined by commas."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return address_text(value.get("email") or value.get("id"))
    if isinstance(value, (list, tuple)):
        parts = [a for a in (address_text(v) for v in value) if a]
        return ", ".join(parts) or None
    text = str(value).strip()
    return text or None
