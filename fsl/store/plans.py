"""The plan registry: every plan ever deployed, by hash; the current one per playbook.

Running enrollments pin the hash they started with (RUNTIME.md section 2), so
a plan stays in the registry as long as anything may refer to it.  Its JSON
is the compiler's own (`plan_json`), read back with `load_plan`, and the
source file's text is kept with it so that `fsl explain` can quote the lines
that made a decision even after the file has changed.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.compiler import Plan, load_plan, plan_json

from .schema import meta, plans, playbooks


@dataclass
class Registered:
    plan: Plan
    current: bool
    source_file: str | None
    source_text: str | None


def register(conn: Connection, plan: Plan, source_file: str | None, source_text: str | None,
             at: int) -> bool:
    """Store a plan under its hash; False when that exact plan was there already."""
    exists = conn.execute(sa.select(plans.c.hash).where(plans.c.hash == plan.hash)).first()
    if exists is not None:
        return False
    conn.execute(plans.insert().values(hash=plan.hash, playbook=plan.playbook, plan=plan_json([plan]),
                                       source_file=source_file, source_text=source_text, deployed_at=at))
    return True


def current_hashes(conn: Connection) -> dict[str, str]:
    return {name: h for name, h in conn.execute(sa.select(playbooks.c.name, playbooks.c.hash))}


def set_current(conn: Connection, plan: Plan, at: int) -> None:
    row = {"hash": plan.hash, "priority": plan.priority, "deployed_at": at}
    if conn.execute(playbooks.update().where(playbooks.c.name == plan.playbook).values(**row)).rowcount == 0:
        conn.execute(playbooks.insert().values(name=plan.playbook, **row))
    bump_version(conn)


def load_all(conn: Connection) -> list[Registered]:
    """Every registered plan, the current one of each playbook last (the
    engine keeps the last plan of a name as the playbook's current program)."""
    current = set(current_hashes(conn).values())
    out = []
    for row in conn.execute(sa.select(plans).order_by(plans.c.deployed_at, plans.c.hash)).mappings():
        plan = load_plan(json.loads(row["plan"]))
        out.append(Registered(plan, row["hash"] in current, row["source_file"], row["source_text"]))
    out.sort(key=lambda r: r.current)
    return out


def source_of(conn: Connection, plan_hash: str) -> tuple[str | None, str | None]:
    row = conn.execute(sa.select(plans.c.source_file, plans.c.source_text).where(plans.c.hash == plan_hash)).first()
    return (row[0], row[1]) if row is not None else (None, None)


# ------------------------------------------------------------------ meta values

def get_meta(conn: Connection, key: str) -> str | None:
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).first()
    return row[0] if row is not None else None


@functools.lru_cache(maxsize=8)
def _metas(keys: tuple[str, ...]) -> sa.Select:
    # one statement per key set, kept: its compiled form and cache key are found, not rebuilt
    return sa.select(meta.c.key, meta.c.value).where(meta.c.key.in_(list(keys)))


def get_metas(conn: Connection, keys: tuple[str, ...]) -> dict[str, str]:
    """The meta values of `keys` that are set, in one read."""
    return {k: v for k, v in conn.execute(_metas(keys))}


def set_meta(conn: Connection, key: str, value: str) -> None:
    if conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(meta.insert().values(key=key, value=value))


def plans_version(conn: Connection) -> int:
    """Bumped by every deploy: a long-running worker reloads its plans when it changes."""
    return int(get_meta(conn, "plans_version") or 0)


def bump_version(conn: Connection) -> None:
    set_meta(conn, "plans_version", str(plans_version(conn) + 1))
