"""`enroll when` segments in SQL: a pre-filter over the contacts table.

Why: checking a segment over a million contacts must not load a million
contacts into Python.  `prefilter(tree, dialect, now)` turns a plan
expression tree (fsl/compiler/plan.py) into an SQLAlchemy clause over
`contacts` (and `events`, for `count`) that holds for **every** contact for
whom the Python evaluator (fsl/runtime/evaluate.py) says true -- a superset
-- so a caller selects candidates with it and evaluates the exact expression
in Python on the survivors: the results are identical by construction.

How: `_exact` translates a sub-tree only when SQL gives exactly Python's
answer, NULL-free (so `not` stays exact), and returns None otherwise;
`_superset` relaxes where dropping a part only widens the set (a conjunct
that cannot be translated is left to Python).  Exact today: fields of the
contact (one level), `== != < <= > >=` against string, number and boolean
literals (with Python's type rules: a boolean is not a number, strings
compare by code point), `== none` / `!= none`, `in` / `not in` a list of
literals, `and` / `or` / `not`, and `count(EVENT)` compared with a number
(events applied up to now).  Left to Python (None): deal and stakeholder
fields, `let`s, arithmetic, `days_since` and windowed `count` (both depend
on the contact's time zone), engagement functions.

JSON access differs: SQLite `json_type` / `json_extract` on the TEXT
column, PostgreSQL `jsonb_typeof` / `->>` on a cast to jsonb.
"""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from .schema import contacts, events

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def prefilter(tree: Any, dialect: str, now: int) -> ColumnElement | None:
    """A clause true for every contact the expression holds for (None: no narrowing)."""
    return _superset(tree, _Json(dialect), now)


def _superset(tree: Any, j: "_Json", now: int) -> ColumnElement | None:
    if isinstance(tree, dict) and tree.get("op") == "and":
        parts = [p for p in (_superset(a, j, now) for a in tree["args"]) if p is not None]
        return sa.and_(*parts) if parts else None
    if isinstance(tree, dict) and tree.get("op") == "or":
        parts = [_superset(a, j, now) for a in tree["args"]]
        return None if any(p is None for p in parts) else sa.or_(*parts)
    return _exact(tree, j, now)


def _exact(tree: Any, j: "_Json", now: int) -> ColumnElement | None:
    if not isinstance(tree, dict) or "op" not in tree:
        return None
    op, args = tree["op"], tree["args"]
    if op in ("and", "or"):
        parts = [_exact(a, j, now) for a in args]
        if any(p is None for p in parts):
            return None
        return sa.and_(*parts) if op == "and" else sa.or_(*parts)
    if op == "not":
        inner = _exact(args[0], j, now)
        return None if inner is None else sa.not_(inner)
    if op not in _FLIP and op not in ("in", "not in"):
        return None
    a, b = args
    if op in ("in", "not in"):
        name = _field(a)
        items = b.get("list") if isinstance(b, dict) else None
        if name is None or items is None or not all(isinstance(x, dict) and "lit" in x for x in items):
            return None
        eqs = [_eq(j, name, x["lit"]) for x in items if x["lit"] is not None]
        inside = sa.or_(*eqs) if eqs else sa.false()
        return inside if op == "in" else sa.and_(j.present(name), sa.not_(inside))
    if _count(a) is None and _field(a) is None:  # literal first: flip the comparison
        a, b, op = b, a, _FLIP[op]
    if not (isinstance(b, dict) and "lit" in b):
        return None
    lit = b["lit"]
    counted = _count(a)
    if counted is not None:
        if not _number(lit):
            return None
        n = (sa.select(sa.func.count()).select_from(events)
             .where(events.c.contact == contacts.c.id, events.c.type == counted, events.c.status == "done",
                    events.c.at <= now).scalar_subquery())
        return _compare(n, op, lit)
    name = _field(a)
    if name is None:
        return None
    if lit is None:
        return {"==": sa.not_(j.present(name)), "!=": j.present(name)}.get(op)
    if op == "==":
        return _eq(j, name, lit)
    if op == "!=":
        return sa.and_(j.present(name), sa.not_(_eq(j, name, lit)))
    if isinstance(lit, bool):
        return sa.false()  # Python never orders booleans
    if isinstance(lit, str):
        return sa.and_(j.is_str(name), _compare(j.text(name, ordered=True), op, lit))
    if _number(lit):
        return sa.and_(j.is_num(name), _compare(j.num(name), op, lit))
    return None


def _eq(j: "_Json", name: str, lit: Any) -> ColumnElement:
    if isinstance(lit, bool):
        return j.is_bool(name, lit)
    if isinstance(lit, str):
        return sa.and_(j.is_str(name), j.text(name) == lit)
    if _number(lit):
        return sa.and_(j.is_num(name), j.num(name) == lit)
    return sa.false()


def _compare(left: ColumnElement, op: str, lit: Any) -> ColumnElement:
    return {"==": left == lit, "!=": left != lit, "<": left < lit, "<=": left <= lit,
            ">": left > lit, ">=": left >= lit}[op]


def _field(tree: Any) -> str | None:
    path = tree.get("path") if isinstance(tree, dict) else None
    if path and len(path) == 2 and path[0] == "contact" and _NAME.match(path[1]):
        return path[1]
    return None


def _count(tree: Any) -> str | None:
    if not (isinstance(tree, dict) and tree.get("call") == "count" and len(tree.get("args", [])) == 1):
        return None
    arg = tree["args"][0]
    name = arg.get("name", arg.get("lit")) if isinstance(arg, dict) else None
    return name if isinstance(name, str) else None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Json:
    """The typed reads of one contact field, per dialect; every test is NULL-free."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    def _type(self, name: str) -> ColumnElement:
        if self.pg:
            return sa.func.coalesce(sa.func.jsonb_typeof(sa.cast(contacts.c.fields, _JSONB)[name]), "missing")
        return sa.func.coalesce(sa.func.json_type(contacts.c.fields, f'$."{name}"'), "missing")

    def present(self, name: str) -> ColumnElement:
        return self._type(name).not_in(("missing", "null"))

    def is_str(self, name: str) -> ColumnElement:
        return self._type(name) == ("string" if self.pg else "text")

    def is_num(self, name: str) -> ColumnElement:
        return self._type(name).in_(("number",) if self.pg else ("integer", "real"))

    def is_bool(self, name: str, value: bool) -> ColumnElement:
        if self.pg:
            return sa.and_(self._type(name) == "boolean",
                           sa.cast(contacts.c.fields, _JSONB)[name].astext == ("true" if value else "false"))
        return self._type(name) == ("true" if value else "false")

    def text(self, name: str, ordered: bool = False) -> ColumnElement:
        if self.pg:
            value = sa.cast(contacts.c.fields, _JSONB)[name].astext
            return value.collate("C") if ordered else value  # code point order, as Python
        return sa.func.json_extract(contacts.c.fields, f'$."{name}"')

    def num(self, name: str) -> ColumnElement:
        if self.pg:
            value = sa.cast(contacts.c.fields, _JSONB)[name].astext
            return sa.case((self._type(name) == "number", sa.cast(value, sa.Numeric)), else_=None)
        return sa.func.json_extract(contacts.c.fields, f'$."{name}"')


from sqlalchemy.dialects.postgresql import JSONB as _JSONB  # noqa: E402 - only types, no driver
