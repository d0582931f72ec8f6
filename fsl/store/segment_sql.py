"""`enroll when` segments in SQL: a pre-filter over the contacts table.

Why: checking a segment over a million contacts must not load a million
contacts into Python.  `prefilter_moves(tree, dialect, now)` turns a plan
expression tree (fsl/compiler/plan.py) into an SQLAlchemy clause over
`contacts` (and `events`, for `count`) that holds for **every** contact for
whom the Python evaluator (fsl/engine/evaluate.py) says true -- a superset
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
(events applied up to now).  `let`s are inlined first.

`_loose` widens what cannot be exact but can be bounded, used only where a
superset is enough (never under `not`): `days_since(contact.F)`,
`days_since(last(EVENT))` and `count(EVENT, D)` compared with a number.  Both depend on the contact's time
zone, which SQL does not know, so the clause allows the widest error a zone
can cause: a few days on `days_since`, two days on a window of days or
weeks (windows in minutes and hours are exact; business days, which depend
on holidays, are left to Python).

Left to Python (None): deal and stakeholder fields, arithmetic, engagement
functions, now().

JSON access differs: SQLite `json_type` / `json_extract` on the TEXT
column, PostgreSQL `jsonb_typeof` / `->>` on a cast to jsonb.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from fsl.engine.evaluate import _NOMINAL

from .schema import contacts, events

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def prefilter_moves(tree: Any, dialect: str, now: int, lets: dict[str, Any] | None = None,
                    parsed: ColumnElement | None = None) -> tuple[ColumnElement | None, frozenset[str]]:
    """The pre-filter, and when its value can change with time alone: {} never
    (only data changes it), {"day"} at UTC midnight (days_since of a field
    compares dates), {"minute"} any minute (windows of events).

    The clause is true for every contact the expression holds for (None: no
    narrowing) and never NULL for a contact, so `NOT clause` is its exact
    complement (the candidates the expression cannot hold for)."""
    j = _Json(dialect, parsed)
    clause = _superset(inline_lets(tree, lets or {}), j, now)
    if clause is not None and j.pg:  # what jsonb cannot read is left to the engine
        clause = sa.or_(sa.not_(jsonb_castable()), clause)
    return clause, frozenset(j.moves) if clause is not None else frozenset()


def inline_lets(tree: Any, lets: dict[str, Any], _seen: frozenset = frozenset()) -> Any:
    """The tree with each `let` reference replaced by its definition (a cycle,
    which the checker rejects anyway, is left as a reference: not translated)."""
    if isinstance(tree, dict):
        name = tree.get("let")
        if isinstance(name, str) and len(tree) == 1:
            if name in lets and name not in _seen:
                return inline_lets(lets[name], lets, _seen | {name})
            return tree
        return {k: inline_lets(v, lets, _seen) for k, v in tree.items()}
    if isinstance(tree, list):
        return [inline_lets(v, lets, _seen) for v in tree]
    return tree


def _superset(tree: Any, j: "_Json", now: int) -> ColumnElement | None:
    if isinstance(tree, dict) and tree.get("op") == "and":
        parts = [p for p in (_superset(a, j, now) for a in tree["args"]) if p is not None]
        return sa.and_(*parts) if parts else None
    if isinstance(tree, dict) and tree.get("op") == "or":
        maybe = [_superset(a, j, now) for a in tree["args"]]
        parts = [p for p in maybe if p is not None]
        return None if len(parts) < len(maybe) else sa.or_(*parts)
    exact = _exact(tree, j, now)
    return exact if exact is not None else _loose(tree, j, now)


# ---------------------------------------------------------------- loose bounds

_DAY = 86400
_ZONE_SLACK_DAYS = 2  # a window of days in a zone differs from the nominal one by < 1 day; twice that


def _loose(tree: Any, j: "_Json", now: int) -> ColumnElement | None:
    """A NULL-free superset of `days_since(contact.F) OP n` or `count(E, D) OP n`."""
    if not isinstance(tree, dict) or tree.get("op") not in _FLIP or len(tree.get("args", ())) != 2:
        return None
    op, (a, b) = tree["op"], tree["args"]
    if isinstance(a, dict) and "lit" in a:
        a, b, op = b, a, _FLIP[op]
    lit = b.get("lit") if isinstance(b, dict) else None
    if not _number(lit) or not isinstance(a, dict):
        return None
    if a.get("call") == "days_since" and len(a.get("args", ())) == 1:
        last = _count({"call": "count", "args": a["args"][0].get("args", [])}) \
            if isinstance(a["args"][0], dict) and a["args"][0].get("call") == "last" else None
        if last is not None:
            j.moves.add("minute")
            return _days_since_last(last, op, lit, now)
        name = _field(a["args"][0])
        if name is None:
            return None
        j.moves.add("day")
        return _days_since(j, name, op, lit, now)
    if a.get("call") == "count" and len(a.get("args", ())) == 2:
        clause = _window_count(a, op, lit, now)
        if clause is not None:
            j.moves.add("minute")
        return clause
    return None


def _days_bounds(op: str, n: float) -> tuple[int | None, int | None]:
    """The integer range [lo, hi] (None: open) of whole days L with `L op n`."""
    floor, ceil = math.floor(n), math.ceil(n)
    return {">": (floor + 1, None), ">=": (ceil, None), "<": (None, ceil - 1), "<=": (None, floor),
            "==": (int(n), int(n)) if n == int(n) else (1, 0), "!=": (None, None)}[op]


def _days_since(j: "_Json", name: str, op: str, n: float, now: int) -> ColumnElement | None:
    """days_since(contact.F) is L = whole days between the local wall clocks.
    With X the date the field stores (UTC date of a datetime, or the date) and
    D today's UTC date, each local date is within a day of X and of D, and the
    floor of the wall-clock difference costs at most one more: D-X-3 <= L <= D-X+2."""
    lo, hi = _days_bounds(op, n)
    if lo is not None and hi is not None and lo > hi:
        return sa.false()
    stored = j.date_text(name)
    today = datetime.fromtimestamp(now, timezone.utc).date()
    terms: list[ColumnElement[bool]] = [stored.is_not(None)]
    try:
        if lo is not None:  # L >= lo  =>  D - X >= lo - 2  =>  X <= D - (lo - 2)
            terms.append(stored <= (today - timedelta(days=lo - 2)).isoformat())
        if hi is not None:  # L <= hi  =>  D - X <= hi + 3  =>  X >= D - (hi + 3)
            terms.append(stored >= (today - timedelta(days=hi + 3)).isoformat())
    except OverflowError:  # a bound beyond year 1..9999: that side does not narrow
        terms = terms[:1]
    return sa.and_(*terms)


def _days_since_last(event: str, op: str, n: float, now: int) -> ColumnElement:
    """days_since(last(E)) op n.  L counts whole local days from the latest E;
    a zone moves local time differences by less than a day, so L >= lo needs
    no E in the last lo - 2 days (and one before), L <= hi one in the last hi + 3."""
    lo, hi = _days_bounds(op, n)
    if lo is not None and hi is not None and lo > hi:
        return sa.false()

    def some(after: float | None) -> ColumnElement:
        q = sa.select(events.c.id).where(events.c.contact == contacts.c.id, events.c.type == event,
                                         events.c.status == "done", events.c.at <= now)
        return sa.exists(q if after is None else q.where(events.c.at > math.floor(after)))

    terms = [some(None)]  # last(E) is none without one: the comparison is false
    if lo is not None and lo - 2 > 0:
        terms.append(sa.not_(some(now - (lo - 2) * _DAY)))
    if hi is not None:
        terms.append(some(now - (hi + 3) * _DAY))
    return sa.and_(*terms)


def _window_count(call: dict, op: str, n: float, now: int) -> ColumnElement | None:
    """count(E, D) op n, with the window widened (for lower bounds on the count)
    or narrowed (for upper bounds) by the most a zone can move its start."""
    event = _count({"call": "count", "args": call["args"][:1]})
    dur = call["args"][1].get("dur") if isinstance(call["args"][1], dict) else None
    if event is None or not dur:
        return None
    amount, unit = dur
    if unit not in ("seconds", "minutes", "hours", "days", "weeks") or not _number(amount) or amount < 0:
        return None
    span = amount * _NOMINAL[unit]
    exact = unit in ("seconds", "minutes", "hours") or amount != int(amount)  # fixed seconds: no zone
    slack = 0 if exact else _ZONE_SLACK_DAYS * _DAY

    def counted(since: float) -> ColumnElement:
        return (sa.select(sa.func.count()).select_from(events)
                .where(events.c.contact == contacts.c.id, events.c.type == event, events.c.status == "done",
                       events.c.at <= now, events.c.at > math.floor(since)).scalar_subquery())

    wide, narrow = counted(now - span - slack), counted(now - span + slack)
    if op in (">", ">="):
        return _compare(wide, op, n)
    if op in ("<", "<="):
        return _compare(narrow, op, n)
    if op == "==":
        return sa.and_(wide >= n, narrow <= n)
    return None


def _exact(tree: Any, j: "_Json", now: int) -> ColumnElement | None:
    if not isinstance(tree, dict) or "op" not in tree:
        return None
    op, args = tree["op"], tree["args"]
    if op in ("and", "or"):
        maybe = [_exact(a, j, now) for a in args]
        parts = [p for p in maybe if p is not None]
        if len(parts) < len(maybe):
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


def _number(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Json:
    """The typed reads of one contact field, per dialect; every test is NULL-free."""

    def __init__(self, dialect: str, parsed: ColumnElement | None = None) -> None:
        """`parsed`: on PostgreSQL, the contact's fields already cast to jsonb once per
        row (a LATERAL column, segment_checks.py); by default each read casts the text."""
        self.pg = dialect == "postgresql"
        self._parsed = parsed
        self.moves: set[str] = set()  # what time does to the clauses built (prefilter_moves)

    def _doc(self) -> ColumnElement:
        return self._parsed if self._parsed is not None else jsonb_fields()

    def _type(self, name: str) -> ColumnElement:
        if self.pg:
            return sa.func.coalesce(sa.func.jsonb_typeof(self._doc()[name]), "missing")
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
                           self._doc()[name].astext == ("true" if value else "false"))
        return self._type(name) == ("true" if value else "false")

    def text(self, name: str, ordered: bool = False) -> ColumnElement:
        if self.pg:
            value = self._doc()[name].astext
            return value.collate("C") if ordered else value  # code point order, as Python
        return sa.func.json_extract(contacts.c.fields, f'$."{name}"')

    def date_text(self, name: str) -> ColumnElement:
        """'YYYY-MM-DD' of a stored datetime ({"$t": UTC iso}) or date ({"$d": iso}); else NULL."""
        if self.pg:
            value = self._doc()
            stored = sa.func.coalesce(sa.func.jsonb_extract_path_text(value, name, "$t"),
                                      sa.func.jsonb_extract_path_text(value, name, "$d"))
        else:
            stored = sa.func.coalesce(sa.func.json_extract(contacts.c.fields, f'$."{name}"."$t"'),
                                      sa.func.json_extract(contacts.c.fields, f'$."{name}"."$d"'))
        text = sa.func.substr(stored, 1, 10)
        return text.collate("C") if self.pg else text  # ISO dates order as strings, byte by byte

    def num(self, name: str) -> ColumnElement:
        if self.pg:
            value = self._doc()[name].astext
            return sa.case((self._type(name) == "number", sa.cast(value, sa.Numeric)), else_=None)
        return sa.func.json_extract(contacts.c.fields, f'$."{name}"')


def jsonb_castable() -> ColumnElement:
    """Whether PostgreSQL's jsonb takes the contact's JSON text (never NULL).
    jsonb refuses a NUL (`\\u0000`) and a lone surrogate's escape, which user
    data may hold (codec.py writes both; a lone surrogate only on its exact
    path, the texts ending with codec.SLOW_PATH).  A cast error would abort
    the whole statement: one contact would stop every segment pass-over."""
    text = sa.func.coalesce(contacts.c.fields, "")
    return sa.and_(sa.func.strpos(text, "\\u0000") == 0, sa.func.right(text, 1) != " ")


def jsonb_fields() -> ColumnElement:
    """The contact's fields as jsonb; NULL where jsonb refuses the text (the
    pre-filter is then true: the engine decides, prefilter_moves)."""
    return sa.cast(sa.case((jsonb_castable(), sa.cast(contacts.c.fields, _JSONB)), else_=None), _JSONB)


from sqlalchemy.dialects.postgresql import JSONB as _JSONB  # noqa: E402 - only types, no driver
