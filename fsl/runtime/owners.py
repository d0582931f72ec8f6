"""Who a message is sent as (CONSOLE.md "Sending as the owner").

`owner_of(host, contact)` is what templates see as `owner` (`name`, `email`,
`phone`, `signature`): the enabled console user whose owner id is the
contact's `owner` field, or None when the contact has none (or no such
user).  Users change rarely and a tick renders many messages: each host keeps
what it read for a minute.
"""
from __future__ import annotations

import threading
import time
from typing import Any

CACHE_SECONDS = 60.0


class _Directory:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read_at = 0.0
        self.by_owner: dict[str, dict[str, Any]] = {}

    def lookup(self, db: Any, owner_id: str) -> dict[str, Any] | None:
        with self.lock:
            if time.monotonic() - self.read_at > CACHE_SECONDS:
                self.by_owner = _read_all(db)
                self.read_at = time.monotonic()
            return self.by_owner.get(owner_id)


def _read_all(db: Any) -> dict[str, dict[str, Any]]:
    import sqlalchemy as sa

    from fsl.store.schema import users

    q = (sa.select(users.c.owner_id, users.c.name, users.c.display_name, users.c.email, users.c.phone,
                   users.c.signature).where(users.c.disabled_at.is_(None)).order_by(users.c.id))
    found: dict[str, dict[str, Any]] = {}
    with db.read() as conn:
        for row in conn.execute(q).mappings():
            found.setdefault(row["owner_id"], {"name": row["display_name"] or row["name"], "email": row["email"],
                                               "phone": row["phone"], "signature": row["signature"]})
    return found


def owner_of(host: Any, contact: Any) -> dict[str, Any] | None:
    owner_id = contact.fields.get("owner") if contact is not None else None
    if not isinstance(owner_id, str) or not owner_id:
        return None
    directory = getattr(host, "_fsl_owners", None)
    if directory is None:
        directory = _Directory()
        host._fsl_owners = directory
    return directory.lookup(host.db, owner_id)
