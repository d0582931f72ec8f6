"""Failed logins (CONSOLE.md): after 5 for one user name, or 20 from one address, within
15 minutes, logins for that name (from anywhere) or from that address answer 429 for
15 minutes after the last of them -- even with the right password.  Kept in the store
(`login_failures`), so a restart or a second process does not reset them."""
from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.store.schema import login_failures

WINDOW = 15 * 60
LOCK = 15 * 60
PER_USER = 5
PER_ADDRESS = 20


def _locked(conn: Connection, column: sa.ColumnElement, value: str, limit: int, now: int) -> int | None:
    """Seconds until the lock ends, or None."""
    recent = [r[0] for r in conn.execute(sa.select(login_failures.c.at).where(column == value,
                                                                               login_failures.c.at > now - WINDOW - LOCK)
                                         .order_by(login_failures.c.at.desc()).limit(limit))]
    if len(recent) < limit or recent[0] - recent[-1] > WINDOW:
        return None
    left = recent[0] + LOCK - now
    return left if left > 0 else None


def locked(conn: Connection, username: str, address: str) -> int | None:
    """Seconds to wait when this name or this address is locked out, else None."""
    now = int(time.time())
    c = login_failures.c
    waits = [w for w in (_locked(conn, c.username, username.lower(), PER_USER, now),
                         _locked(conn, c.address, address, PER_ADDRESS, now)) if w is not None]
    return max(waits) if waits else None


def failed(conn: Connection, username: str, address: str) -> None:
    now = int(time.time())
    conn.execute(login_failures.insert().values(at=now, username=username.lower()[:200], address=address[:64]))
    # keep the table small: what no lock can depend on any more goes
    conn.execute(login_failures.delete().where(login_failures.c.at < now - WINDOW - LOCK - 60))
