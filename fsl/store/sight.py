"""What a console user may see (CONSOLE.md "Users and what they may see"), in one place.

Every query the console makes about contacts, deals, tasks and reviews goes
through this module with a `Scope`; no other module reads those tables for a
page.  A rep's scope is their own owner id; a manager's adds the owner ids of
their team; an admin's is everything (`owners is None`).  A contact is in
sight when its `owner` field is one of the scope's owner ids; what is not in
sight is returned as None (the page answers 404), never filtered later by
the caller.  A task is in sight by its assignee (it is on the /tasks of the
user whose owner id equals it); its contact's details only when the contact
is in sight too.

The tasks page is one query (tasks joined with their action, enrollment,
contact and deal) plus, the first time a plan is met, one for its source
text (plans are immutable by hash, so their lines are kept in memory).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .codec import instant, loads
from .schema import actions, contacts, deals, enrollments, plans, reviews, tasks
from .users import User, team_members


@dataclass(frozen=True)
class Scope:
    viewer: User
    owners: frozenset[str] | None  # None: everything (an admin)
    team: tuple[User, ...] = ()  # a manager's reps (and other members), for the grouped /tasks

    def sees_owner(self, owner: Any) -> bool:
        if self.owners is None:
            return True
        return isinstance(owner, str) and owner in self.owners


def scope_of(conn: Connection, user: User) -> Scope:
    if user.role == "admin":
        return Scope(user, None)
    if user.role == "manager" and user.team:
        members = tuple(u for u in team_members(conn, user.team) if u.id != user.id and not u.disabled)
        return Scope(user, frozenset({user.owner_id, *(u.owner_id for u in members)}), members)
    return Scope(user, frozenset({user.owner_id}))


def _fields(text: str | None) -> dict[str, Any]:
    try:
        value = loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------ contacts

def contact(conn: Connection, scope: Scope, contact_id: str) -> dict[str, Any] | None:
    """The contact's fields, or None when it does not exist or is out of sight."""
    row = conn.execute(sa.select(contacts.c.fields).where(contacts.c.id == contact_id)).first()
    if row is None:
        return None
    fields = _fields(row[0])
    return fields if scope.sees_owner(fields.get("owner")) else None


def timeline(conn: Connection, scope: Scope, contact_id: str) -> dict[str, Any] | None:
    """Everything the contact page shows, or None (out of sight or unknown)."""
    from .queries import explain, task_json

    fields = contact(conn, scope, contact_id)
    if fields is None:
        return None
    story = explain(conn, contact_id) or {"enrollments": [], "events": [], "contact_journal": []}
    deal_ids = sorted({e["deal"] for e in story["enrollments"] if e["deal"]}
                      | {r[0] for r in conn.execute(sa.select(tasks.c.deal).where(
                          tasks.c.contact == contact_id, tasks.c.deal.is_not(None)))})
    deal_rows: list[Any] = list(conn.execute(sa.select(deals.c.id, deals.c.fields)
                                             .where(deals.c.id.in_(deal_ids)))) if deal_ids else []
    its_tasks = [task_json(r) for r in conn.execute(
        sa.select(tasks).where(tasks.c.contact == contact_id).order_by(tasks.c.due_at, tasks.c.id)).mappings()]
    notes = [e for e in story["events"] if e["type"] == "task_done"]
    return {"id": contact_id, "fields": fields, "deals": [{"id": d, "fields": _fields(f)} for d, f in deal_rows],
            "enrollments": story["enrollments"], "contact_journal": story["contact_journal"],
            "events": story["events"], "tasks": its_tasks, "notes": notes}


# ------------------------------------------------------------------ tasks

_plan_lines: dict[str, tuple[str | None, list[str]]] = {}
_plan_lock = threading.Lock()


def _sources(conn: Connection, hashes: Iterable[str | None]) -> dict[str, tuple[str | None, list[str]]]:
    wanted = {h for h in hashes if h}
    with _plan_lock:
        missing = sorted(wanted - set(_plan_lines))
    if missing:
        rows = conn.execute(sa.select(plans.c.hash, plans.c.source_file, plans.c.source_text)
                            .where(plans.c.hash.in_(missing)))
        with _plan_lock:
            for h, file, text in rows:
                _plan_lines[h] = (file, (text or "").splitlines())
    with _plan_lock:
        return {h: _plan_lines[h] for h in wanted if h in _plan_lines}


def _task_query() -> sa.Select:
    t, a, e, c, d = tasks.c, actions.c, enrollments.c, contacts.c, deals.c
    return (sa.select(t.id, t.kind, t.assignee, t.contact, t.deal, t.playbook, t.step, t.subject, t.text,
                      t.due_at, t.created_at, t.status, t.done_at, a.line, e.plan_hash,
                      c.fields.label("contact_fields"), d.fields.label("deal_fields"))
            .select_from(tasks.outerjoin(actions, a.key == t.action_key)
                         .outerjoin(enrollments, e.id == t.enrollment)
                         .outerjoin(contacts, c.id == t.contact)
                         .outerjoin(deals, d.id == t.deal)))


def _task_rows(conn: Connection, scope: Scope, rows: list[Any]) -> list[dict[str, Any]]:
    sources = _sources(conn, (r["plan_hash"] for r in rows))
    out = []
    for r in rows:
        cf = _fields(r["contact_fields"]) if r["contact_fields"] is not None else None
        visible = cf is not None and scope.sees_owner(cf.get("owner"))
        file, lines = sources.get(r["plan_hash"] or "", (None, []))
        line = r["line"] or 0
        out.append({
            "id": r["id"], "kind": r["kind"], "assignee": r["assignee"], "contact": r["contact"],
            "contact_fields": cf if visible else None, "contact_visible": visible, "deal": r["deal"],
            "deal_fields": _fields(r["deal_fields"]) if visible and r["deal_fields"] is not None else None,
            "playbook": r["playbook"], "step": r["step"], "subject": r["subject"], "text": r["text"],
            "due": instant(r["due_at"]), "created_at": instant(r["created_at"]), "status": r["status"],
            "done_at": instant(r["done_at"]) if r["done_at"] is not None else None,
            "source": {"file": file, "line": line, "text": lines[line - 1].strip() if 0 < line <= len(lines) else None}
            if line else None})
    return out


def open_tasks(conn: Connection, scope: Scope, owner_ids: Iterable[str], due_before: int) -> list[dict[str, Any]]:
    """Open tasks due before `due_before` (epoch seconds) of these assignees, those in sight only."""
    wanted = sorted(o for o in owner_ids if scope.owners is None or o in scope.owners)
    if not wanted:
        return []
    q = _task_query().where(tasks.c.status == "open", tasks.c.assignee.in_(wanted), tasks.c.due_at <= due_before)
    rows = list(conn.execute(q.order_by(tasks.c.due_at, tasks.c.id)).mappings())
    return _task_rows(conn, scope, rows)


def task(conn: Connection, scope: Scope, task_id: int) -> dict[str, Any] | None:
    rows = list(conn.execute(_task_query().where(tasks.c.id == task_id)).mappings())
    if not rows or not scope.sees_owner(rows[0]["assignee"]):
        return None
    return _task_rows(conn, scope, rows)[0]


def task_action_key(conn: Connection, scope: Scope, task_id: int) -> str | None:
    found = task(conn, scope, task_id)
    if found is None:
        return None
    return conn.execute(sa.select(tasks.c.action_key).where(tasks.c.id == task_id)).scalar()


# ------------------------------------------------------------------ reviews

def _owners_of(conn: Connection, contact_ids: Iterable[str]) -> dict[str, Any]:
    ids = sorted(set(contact_ids))
    if not ids:
        return {}
    rows = conn.execute(sa.select(contacts.c.id, contacts.c.fields).where(contacts.c.id.in_(ids)))
    return {cid: _fields(f).get("owner") for cid, f in rows}


def held_reviews(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The review items (held drafts) of the contacts in sight, oldest first."""
    return [r for r in reviews_listing(conn) if scope.sees_owner(r["owner"])]


def reviews_listing(conn: Connection, review_id: int | None = None) -> list[dict[str, Any]]:
    q = sa.select(reviews).order_by(reviews.c.created_at, reviews.c.id)
    q = q.where(reviews.c.id == review_id) if review_id is not None else q.where(reviews.c.status == "held")
    rows = [dict(r) for r in conn.execute(q).mappings()]
    owners = _owners_of(conn, (r["contact"] for r in rows))
    for r in rows:
        r["owner"] = owners.get(r["contact"])
    return rows


def review_in_sight(conn: Connection, scope: Scope, review_id: int) -> dict[str, Any] | None:
    rows = reviews_listing(conn, review_id)
    return rows[0] if rows and scope.sees_owner(rows[0]["owner"]) else None



# ------------------------------------------------------------------ task changes (in sight only)

def close_task(conn: Connection, scope: Scope, task_id: int, at: int) -> dict[str, Any] | None:
    """Mark an open task in sight done: the task as it was, or None (out of sight, unknown, not open)."""
    found = task(conn, scope, task_id)
    if found is None or found["status"] != "open":
        return None
    changed = conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.status == "open")
                           .values(status="done", done_at=at)).rowcount == 1
    return found if changed else None


def snooze_task(conn: Connection, scope: Scope, task_id: int, due_at: int) -> bool:
    found = task(conn, scope, task_id)
    if found is None or found["status"] != "open":
        return False
    return conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.status == "open")
                        .values(due_at=due_at)).rowcount == 1
