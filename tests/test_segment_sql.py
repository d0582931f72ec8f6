"""The SQL pre-filter of `enroll when` segments never loses a contact, and is exact where it says so.

Random contacts (fields of every JSON type, missing and null, non-ASCII
strings) with random event histories, and random expression trees of the
translatable kinds mixed with ones that are not (deal fields, days_since,
arithmetic).  For each tree, on SQLite and on PostgreSQL (when
FSL_TEST_POSTGRES_URL is set): the contacts the Python evaluator accepts are
a subset of those the SQL clause selects; when the whole tree translates
exactly, the two sets are equal; and filtering the SQL survivors in Python
gives exactly the Python answer.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from fsl.runtime.evaluate import Ctx, compile_expr, truthy
from fsl.runtime.model import Contact
from fsl.store import open_store
from fsl.store.codec import dumps, epoch
from fsl.store.schema import contacts, events
from fsl.store.segment_sql import _exact, _Json, prefilter

from .test_pg_support import pg_url  # noqa: F401 - the fixture

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
VALUES = ["A", "B", "b", "é", "Zed", "", "10", 0, 1, 2.5, 10, -3, True, False, None, ["A"], {"$d": "2026-01-02"}]
FIELDS = ["tier", "score", "country"]
EVENTS = ["opened", "clicked"]


def _data(rng: random.Random, n: int = 300):
    people, history = [], []
    for i in range(n):
        fields = {"id": f"c{i:04d}"}
        for f in FIELDS:
            if rng.random() < 0.85:
                fields[f] = rng.choice(VALUES)
        people.append(Contact(f"c{i:04d}", fields))
        for _ in range(rng.randrange(4)):
            at = NOW + timedelta(hours=rng.randrange(-72, 24))  # some after now: not counted
            history.append((fields["id"], rng.choice(EVENTS), at))
    return people, history


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
    if kind < 0.85:
        return {"op": rng.choice([">", ">=", "==", "<"]),
                "args": [{"call": "count", "args": [{"name": rng.choice(EVENTS)}]}, {"lit": rng.randrange(3)}]}
    # not translatable: left to Python
    return rng.choice([
        {"op": "==", "args": [{"path": ["deal", "stage"]}, {"lit": "won"}]},
        {"op": ">", "args": [{"call": "days_since", "args": [{"path": ["contact", "score"]}]}, {"lit": 3}]},
        {"op": ">", "args": [{"op": "+", "args": [field, {"lit": 1}]}, {"lit": 2}]},
    ])


class _Env:
    def __init__(self, history) -> None:
        self.history = history

    def count(self, ctx, event, since):
        return sum(1 for c, t, at in self.history if c == ctx.contact.id and t == event and at <= ctx.now
                   and (since is None or at > since))


def _check(url: str, seed: int) -> None:
    rng = random.Random(seed)
    people, history = _data(rng)
    db = open_store(url)
    try:
        with db.write() as conn:
            conn.execute(contacts.insert(), [{"id": c.id, "fields": dumps(c.fields), "version": 0} for c in people])
            conn.execute(events.insert(), [{"at": epoch(at), "type": t, "contact": c, "fields": "{}", "status": "done"}
                                           for c, t, at in history])
        env = _Env(history)
        by_id = {c.id: c for c in people}
        exact_trees = 0
        for _ in range(250):
            tree = _tree(rng)
            f = compile_expr(tree)
            want = {c.id for c in people if truthy(f(Ctx(NOW, c, env=env)))}
            clause = prefilter(tree, db.dialect, epoch(NOW))
            q = sa.select(contacts.c.id)
            if clause is not None:
                q = q.where(clause)
            with db.read() as conn:
                got = set(conn.execute(q).scalars())
            assert want <= got, (tree, sorted(want - got))
            assert {i for i in got if truthy(f(Ctx(NOW, by_id[i], env=env)))} == want
            if _exact(tree, _Json(db.dialect), epoch(NOW)) is not None:
                exact_trees += 1
                assert got == want, (tree, sorted(got ^ want))
        assert exact_trees > 100
    finally:
        db.dispose()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sqlite_prefilter_matches_python(tmp_path: Path, seed: int) -> None:
    _check(f"sqlite:///{tmp_path}/fsl.db", seed)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_postgresql_prefilter_matches_python(pg_url: str, seed: int) -> None:  # noqa: F811
    _check(pg_url, seed)
