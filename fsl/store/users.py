"""The console's users (CONSOLE.md "Users and what they may see"): the `users` table, schema v8.

A user logs in with a name and a password kept only as an argon2id hash
(argon2-cffi: salted, slow, its parameters inside the hash, so a later
change of parameters still verifies old hashes and `needs_rehash` upgrades
them at the next login).  `owner_id` is what contacts' `owner` field and
tasks' assignee hold: it ties a person to what they may see.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from .schema import users

ROLES = ("rep", "manager", "admin")
_hasher = PasswordHasher()
# verified against when the name is unknown, so that a wrong name costs as long as a wrong password
_DUMMY = _hasher.hash("fsl-no-such-user")


class UserError(Exception):
    """A user cannot be added or changed as asked (duplicate name, bad role)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    team: str | None
    owner_id: str
    timezone: str
    display_name: str | None
    email: str | None
    phone: str | None
    signature: str | None
    disabled: bool

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def public(self) -> dict[str, Any]:
        """As `fsl users list --format json` and the console's JSON show it (never the hash)."""
        return {"name": self.name, "role": self.role, "team": self.team, "owner_id": self.owner_id,
                "timezone": self.timezone, "display_name": self.display_name, "email": self.email,
                "phone": self.phone, "signature": self.signature, "disabled": self.disabled}


COLUMNS = [c for c in users.c if c.name != "password_hash"]


def user_from(row: Any) -> User:
    return User(id=row["id"], name=row["name"], role=row["role"], team=row["team"], owner_id=row["owner_id"],
                timezone=row["timezone"], display_name=row["display_name"], email=row["email"],
                phone=row["phone"], signature=row["signature"], disabled=row["disabled_at"] is not None)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add(conn: Connection, name: str, password: str, *, role: str, timezone: str, team: str | None = None,
        owner_id: str | None = None, email: str | None = None, display_name: str | None = None,
        phone: str | None = None, signature: str | None = None) -> User:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if not name.strip() or name != name.strip():
        raise UserError("a user name must be non-empty, without spaces around it")
    if not password:
        raise UserError("an empty password is refused")
    if by_name(conn, name) is not None:
        raise UserError(f"a user named {name!r} exists already")
    conn.execute(users.insert().values(
        name=name, password_hash=hash_password(password), role=role, team=team, owner_id=owner_id or name,
        timezone=timezone, display_name=display_name, email=email, phone=phone, signature=signature,
        created_at=int(time.time())))
    found = by_name(conn, name)
    assert found is not None
    return found


def by_name(conn: Connection, name: str) -> User | None:
    row = conn.execute(sa.select(*COLUMNS).where(users.c.name == name)).mappings().first()
    return user_from(row) if row is not None else None


def by_owner(conn: Connection, owner_ids: list[str]) -> dict[str, User]:
    """The enabled users of these owner ids (the first one added wins a shared id)."""
    if not owner_ids:
        return {}
    q = sa.select(*COLUMNS).where(users.c.owner_id.in_(sorted(set(owner_ids))), users.c.disabled_at.is_(None))
    found: dict[str, User] = {}
    for row in conn.execute(q.order_by(users.c.id)).mappings():
        found.setdefault(row["owner_id"], user_from(row))
    return found


def listing(conn: Connection) -> list[User]:
    return [user_from(r) for r in conn.execute(sa.select(*COLUMNS).order_by(users.c.name)).mappings()]


def team_members(conn: Connection, team: str) -> list[User]:
    q = sa.select(*COLUMNS).where(users.c.team == team).order_by(users.c.name)
    return [user_from(r) for r in conn.execute(q).mappings()]


def disable(conn: Connection, name: str) -> bool:
    """True when the user was enabled and is now disabled; their sessions end (schema v8)."""
    from .schema import sessions

    found = by_name(conn, name)
    if found is None:
        raise UserError(f"no user named {name!r}")
    changed = conn.execute(users.update().where(users.c.name == name, users.c.disabled_at.is_(None))
                           .values(disabled_at=int(time.time()))).rowcount == 1
    conn.execute(sessions.delete().where(sessions.c.user_id == found.id))
    return changed


def check_password(conn: Connection, name: str, password: str) -> User | None:
    """The enabled user whose password this is, else None (same work either way)."""
    row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
    stored = row["password_hash"] if row is not None else _DUMMY
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row["disabled_at"] is not None:
        return None
    if _hasher.check_needs_rehash(stored):
        conn.execute(users.update().where(users.c.id == row["id"]).values(password_hash=hash_password(password)))
    return user_from(row)
