"""The SQL pre-filter of `enroll when` segments never loses a contact, and is exact where it says so.

Random contacts (fields of every JSON type, missing and null, non-ASCII
strings, dates and datetimes, time zones from UTC-11 to UTC+14) with random
event histories, and random expression trees of the translatable kinds
(exact ones, and the loose bounds on days_since and windowed counts) mixed
with ones that are not (deal fields, arithmetic), some through `let`s.  For each tree, on SQLite and on PostgreSQL (when
FSL_TEST_POSTGRES_URL is set): the contacts the Python evaluator accepts are
a subset of those the SQL clause selects; when the whole tree translates
exactly, the two sets are equal; and filtering the SQL survivors in Python
gives exactly the Python answer.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fsl.engine.evaluate import Ctx, compile_expr, truthy
from fsl.engine.model import Contact
from fsl.store import open_store
from fsl.store.codec import dumps, epoch
from fsl.store.schema import contacts, events
from fsl.store.segment_sql import _exact, _Json, inline_lets, prefilter_moves

from .test_pg_support import pg_url  # noqa: F401 - the fixture

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
VALUES = ["A", "B", "b", "é", "Zed", "", "10", 0, 1, 2.5, 10, -3, True, False, None, ["A"], {"$d": "2026-01-02"}]
FIELDS = ["tier", "score", "country"]
EVENTS = ["opened", "clicked"]
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns", "Asia/Kathmandu",
         "Australia/Lord_Howe", "America/New_York"]
LETS = {"engaged": {"op": ">=", "args": [{"call": "count", "args": [{"name": "opened"}]}, {"lit": 1}]},
        "vip": {"op": "==", "args": [{"path": ["contact", "tier"]}, {"lit": "A"}]}}


def _when(rng: random.Random):
    """A datetime or a date around NOW, or something that is neither."""
    roll = rng.random()
    t = NOW + timedelta(minutes=rng.randrange(-45 * 1440, 2 * 1440))
    if roll < 0.45:
        return t
    if roll < 0.85:
        return t.date()
    return rng.choice(["2026-11-01", None, 5])


def _data(rng: random.Random, n: int = 300):
    people, history = [], []
    for i in range(n):
        fields = {"id": f"c{i:04d}", "timezone": rng.choice(ZONES)}
        for f in FIELDS:
            if rng.random() < 0.85:
                fields[f] = rng.choice(VALUES)
        if rng.random() < 0.9:
            fields["signed"] = _when(rng)
        people.append(Contact(f"c{i:04d}", fields))
        for _ in range(rng.randrange(6)):
            at = NOW + timedelta(minutes=rng.randrange(-20 * 1440, 1440))  # some after now: not counted
            history.append((fields["id"], rng.choice(EVENTS), at))
    return people, history


def _compared(rng: random.Random, left: dict, lit) -> dict:
    """left OP lit under a random operator, the literal first one time in five."""
    args = [left, {"lit": lit}]
    return {"op": rng.choice(["==", "!=", "<", "<=", ">", ">="]), "args": args if rng.random() < 0.8 else args[::-1]}


def _lit(rng: random.Random):
    v = rng.choice([x for x in VALUES if not isinstance(x, (list, dict))])
    return {"lit": v}


def _tree(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth < 3 and roll < 0.35:
        op = rng.choice(["and", "or", "not"])
        if op == "not":
            return {"op": "not", "args": [_tree(rng, depth + 1)]}
        return {"op": op, "args": [_tree(rng, depth + 1), _tree(rng, depth + 1)]}
    field = {"path": ["contact", rng.choice(FIELDS)]}
    kind = rng.random()
    if kind < 0.45:
        op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
        args = [field, _lit(rng)]
        return {"op": op, "args": args if rng.random() < 0.8 else args[::-1]}
    if kind < 0.6:
        return {"op": rng.choice(["in", "not in"]),
                "args": [field, {"list": [_lit(rng) for _ in range(rng.randrange(1, 4))]}]}
    if kind < 0.7:
        return {"op": rng.choice(["==", "!="]), "args": [field, {"lit": None}]}
    if kind < 0.78:
        return {"op": rng.choice([">", ">=", "==", "<"]),
                "args": [{"call": "count", "args": [{"name": rng.choice(EVENTS)}]}, {"lit": rng.randrange(3)}]}
    if kind < 0.86:  # loose: days_since of a date or datetime, in the contact's zone
        return _compared(rng, {"call": "days_since", "args": [{"path": ["contact", "signed"]}]},
                         rng.choice([0, 1, 2, 3, 7, 14, 30, 1.5, -1]))
    if kind < 0.9:  # loose: days since the latest event of a kind
        last = {"call": "last", "args": [{"name": rng.choice(EVENTS)}]}
        return _compared(rng, {"call": "days_since", "args": [last]}, rng.choice([0, 1, 2, 3, 5, 9, 1.5]))
    if kind < 0.94:  # loose: a windowed count
        window = {"dur": rng.choice([[6, "hours"], [90, "minutes"], [1, "days"], [3, "days"], [1, "weeks"],
                                     [2, "weeks"], [2, "business_days"]])}
        return _compared(rng, {"call": "count", "args": [{"name": rng.choice(EVENTS)}, window]}, rng.randrange(4))
    if kind < 0.97:
        return {"let": rng.choice(sorted(LETS))}
    # not translatable: left to Python
    return rng.choice([
        {"op": "==", "args": [{"path": ["deal", "stage"]}, {"lit": "won"}]},
        {"op": ">", "args": [{"op": "+", "args": [{"call": "days_since", "args": [{"path": ["contact", "signed"]}]},
                                                  {"lit": 1}]}, {"lit": 3}]},
        {"op": ">", "args": [{"op": "+", "args": [field, {"lit": 1}]}, {"lit": 2}]},
    ])


class _Env:
    def __init__(self, history) -> None:
        self.history = history

    def count(self, ctx, event, since):
        return sum(1 for c, t, at in self.history if c == ctx.contact.id and t == event and at <= ctx.now
                   and (since is None or at > since))

    def last(self, ctx, event):
        times = [at for c, t, at in self.history if c == ctx.contact.id and t == event and at <= ctx.now]
        return max(times) if times else None


@contextmanager
def _stored(url: str, people: list[Contact], history: list[tuple]) -> Iterator[Any]:
    """A fresh store holding these contacts and (contact, type, at) events, all applied."""
    db = open_store(url)
    try:
        with db.write() as conn:
            conn.execute(contacts.insert(), [{"id": c.id, "fields": dumps(c.fields), "version": 0} for c in people])
            conn.execute(events.insert(), [{"at": epoch(at), "type": t, "contact": c, "fields": "{}", "status": "done"}
                                           for c, t, at in history])
        yield db
    finally:
        db.dispose()


def _selected(db: Any, clause: Any) -> set[str]:
    """The contact ids a clause selects (all of them for None)."""
    q = sa.select(contacts.c.id)
    with db.read() as conn:
        return set(conn.execute(q if clause is None else q.where(clause)).scalars())


def _check(url: str, seed: int) -> None:
    rng = random.Random(seed)
    people, history = _data(rng)
    with _stored(url, people, history) as db:
        env = _Env(history)
        by_id = {c.id: c for c in people}
        lets = {k: compile_expr(v) for k, v in LETS.items()}

        def holds(f, c) -> bool:
            return truthy(f(Ctx(NOW, c, env=env, zone=ZoneInfo(c.fields["timezone"]), lets=lets)))

        exact_trees = narrowed = 0
        for _ in range(250):
            tree = _tree(rng)
            f = compile_expr(tree)
            want = {c.id for c in people if holds(f, c)}
            clause = prefilter_moves(tree, db.dialect, epoch(NOW), LETS)[0]
            got = _selected(db, clause)
            if clause is not None:  # never NULL: NOT clause is the exact complement
                assert _selected(db, sa.not_(clause)) == {c.id for c in people} - got, tree
            assert want <= got, (tree, sorted(want - got))
            assert {i for i in got if holds(f, by_id[i])} == want
            narrowed += len(got) < len(people)
            if _exact(inline_lets(tree, LETS), _Json(db.dialect), epoch(NOW)) is not None:
                exact_trees += 1
                assert got == want, (tree, sorted(got ^ want))
        assert exact_trees > 80 and narrowed > 150


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sqlite_prefilter_matches_python(tmp_path: Path, seed: int) -> None:
    _check(f"sqlite:///{tmp_path}/fsl.db", seed)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_postgresql_prefilter_matches_python(pg_url: str, seed: int) -> None:  # noqa: F811
    _check(pg_url, seed)


def _loose_only(url: str) -> None:
    """days_since and windowed counts alone narrow a lot, and lose no one."""
    rng = random.Random(7)
    people, history = _data(rng, 400)
    with _stored(url, people, history) as db:
        env = _Env(history)
        trees = [{"op": ">", "args": [{"call": "days_since", "args": [{"path": ["contact", "signed"]}]}, {"lit": 30}]},
                 {"op": "==", "args": [{"call": "days_since", "args": [{"path": ["contact", "signed"]}]}, {"lit": 3}]},
                 {"op": ">=", "args": [{"call": "count", "args": [{"name": "opened"}, {"dur": [3, "days"]}]}, {"lit": 2}]},
                 {"op": "<", "args": [{"call": "count", "args": [{"name": "clicked"}, {"dur": [1, "weeks"]}]}, {"lit": 1}]},
                 {"op": "<=", "args": [{"call": "days_since", "args": [{"call": "last", "args": [{"name": "opened"}]}]},
                                       {"lit": 3}]},
                 {"op": ">", "args": [{"call": "days_since", "args": [{"call": "last", "args": [{"name": "opened"}]}]},
                                      {"lit": 10}]}]
        for tree in trees:
            f = compile_expr(tree)
            want = {c.id for c in people
                    if truthy(f(Ctx(NOW, c, env=env, zone=ZoneInfo(c.fields["timezone"]))))}
            got = _selected(db, prefilter_moves(tree, db.dialect, epoch(NOW))[0])
            assert want <= got, (tree, sorted(want - got))
            assert len(got) < len(people) * 0.8, (tree, len(got), len(want))  # it does narrow


def test_sqlite_loose_bounds_narrow(tmp_path: Path) -> None:
    _loose_only(f"sqlite:///{tmp_path}/fsl.db")


def test_postgresql_loose_bounds_narrow(pg_url: str) -> None:  # noqa: F811
    _loose_only(pg_url)


def _dst_window(url: str) -> None:
    """A window of days across a DST change is an hour longer than nominal:
    the clause must still count the event in that hour (and the days_since
    of a datetime just across local midnight must still match)."""
    now = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)  # New York left DST on Nov 1
    at = now - timedelta(days=3, minutes=30)  # inside the local 3-day window, outside the nominal one
    nyc = ZoneInfo("America/New_York")
    # signed 11:00 local on Oct 29; at 22:00 local on Nov 1 (03:00 UTC on Nov 2) that is 3 days, not 4
    person = Contact("c1", {"id": "c1", "timezone": "America/New_York",
                            "signed": datetime(2026, 10, 29, 15, 0, tzinfo=timezone.utc)})
    history = [("c1", "opened", at)]
    with _stored(url, [person], history) as db:
        late = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
        cases = [(now, {"op": ">=", "args": [{"call": "count", "args": [{"name": "opened"}, {"dur": [3, "days"]}]},
                                             {"lit": 1}]}),
                 (late, {"op": "==", "args": [{"call": "days_since", "args": [{"path": ["contact", "signed"]}]},
                                              {"lit": 3}]})]
        for now, tree in cases:
            assert truthy(compile_expr(tree)(Ctx(now, person, env=_Env(history), zone=nyc))), tree
            assert _selected(db, prefilter_moves(tree, db.dialect, epoch(now))[0]) == {"c1"}, tree


def test_sqlite_windows_across_dst(tmp_path: Path) -> None:
    _dst_window(f"sqlite:///{tmp_path}/fsl.db")


def test_postgresql_windows_across_dst(pg_url: str) -> None:  # noqa: F811
    _dst_window(pg_url)
