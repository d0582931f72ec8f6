"""Console sessions (CONSOLE.md "Sessions").

The cookie `fsl_console` holds, signed with `server.secret` (itsdangerous),
either a session id (logged in) or a pre-session nonce (the login form's).
The store keeps only the sha256 of a session id, with its user and when it
was last used: a session ends after `server.session_idle` without a
request, at logout, and when its user is disabled (the row is checked at
every request).  The CSRF token of every form is an HMAC of the cookie's id,
so it is bound to the session, and a new one is issued at login.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.engine import Connection

from fsl.store.schema import sessions, users
from fsl.store.users import COLUMNS, User, user_from

COOKIE = "fsl_console"
TOUCH_EVERY = 60  # seconds: `seen_at` is written at most this often (a write per request would serialize reads)


@dataclass(frozen=True)
class Cookie:
    kind: str  # "session" | "pre"
    value: str


class Signer:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="fsl-console-session")
        self._key = hashlib.sha256(("fsl-console-csrf:" + secret).encode()).digest()

    def dump(self, cookie: Cookie) -> str:
        return self._serializer.dumps([cookie.kind, cookie.value])

    def load(self, text: str | None) -> Cookie | None:
        if not text:
            return None
        try:
            kind, value = self._serializer.loads(text)
        except (BadSignature, ValueError, TypeError):
            return None
        if kind not in ("session", "pre") or not isinstance(value, str):
            return None
        return Cookie(kind, value)

    def csrf(self, cookie: Cookie) -> str:
        return hmac.new(self._key, f"{cookie.kind}:{cookie.value}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: Cookie | None, token: str | None) -> bool:
        return cookie is not None and bool(token) and hmac.compare_digest(self.csrf(cookie), str(token))


def new_id() -> str:
    return secrets.token_urlsafe(32)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create(conn: Connection, user: User, address: str) -> str:
    session_id = new_id()
    now = int(time.time())
    conn.execute(sessions.insert().values(id=_digest(session_id), user_id=user.id, created_at=now, seen_at=now,
                                          address=address[:64]))
    return session_id


def end(conn: Connection, session_id: str) -> None:
    conn.execute(sessions.delete().where(sessions.c.id == _digest(session_id)))


def resume(conn: Connection, session_id: str, idle: float) -> tuple[User | None, str | None]:
    """(the session's user or None, what to write: "end", "touch" or None).  Read-only, so
    a page never waits for the store's write lock (a tick holds it) unless it must write."""
    now = int(time.time())
    row: Any = conn.execute(sa.select(sessions.c.seen_at, *COLUMNS)
                            .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
                            .where(sessions.c.id == _digest(session_id))).mappings().first()
    if row is None:
        return None, None
    if row["disabled_at"] is not None or now - row["seen_at"] > idle:
        return None, "end"
    return user_from(row), "touch" if now - row["seen_at"] >= TOUCH_EVERY else None


def touch(conn: Connection, session_id: str) -> None:
    conn.execute(sessions.update().where(sessions.c.id == _digest(session_id)).values(seen_at=int(time.time())))
