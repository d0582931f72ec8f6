"""The store's JSON codec (orjson with exact fallbacks), migration 4, enrollment
state with untagged instants, and `members.one_of` on SQLite and PostgreSQL."""
from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from fsl.engine.evaluate import Dur
from fsl.engine.model import Enrollment
from fsl.store import open_store, upgrade
from fsl.store import rows as R
from fsl.store.codec import SLOW_PATH, _ENCODER, dumps, dumps_columns, dumps_flat, epoch, loads
from fsl.store.members import one_of
from fsl.store.migrations import current_version
from fsl.store.plans import set_meta
from fsl.store.schema import contacts, enrollments, events

from .test_pg_support import pg_url  # noqa: F401 - the fixture

UTC = timezone.utc
BIG = 2**64  # the first integer orjson refuses


# ------------------------------------------------------------------ codec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.datetimes(timezones=st.just(UTC)) | st.dates(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_what_is_written_reads_back_equal(value) -> None:
    assert loads(dumps(value)) == value


flat_fields = st.dictionaries(
    st.text(max_size=5) | st.sampled_from(["$t", "$$x", "$d", "a$", "$"]),
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.text()
    | st.sampled_from(["$5", '"$t"', "$t"]) | st.floats()
    | st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC))
    | st.datetimes(timezones=st.none() | st.just(timezone(timedelta(hours=-3)))) | st.dates()
    | st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.sampled_from(["$t", "k"]), st.text(), max_size=1),
    max_size=6)


@settings(max_examples=500, deadline=None)
@given(flat_fields)
def test_contact_fields_are_written_as_dumps_writes_them(fields) -> None:
    """dumps_flat (an import's contacts) is dumps, faster: the same text for any value."""
    assert dumps_flat(fields) == dumps(fields)


_COLUMN_KINDS = [
    st.none() | st.text() | st.sampled_from(["$5", '"$t"', "$t", "\ud800"]),
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(),
    st.none() | st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)),
    st.datetimes(timezones=st.none() | st.just(UTC) | st.just(timezone(timedelta(hours=-3)))) | st.dates(),
    st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.sampled_from(["$t", "k"]), st.text(), max_size=1),
]


@settings(max_examples=300, deadline=None)
@given(st.data(), st.lists(st.text(max_size=4) | st.sampled_from(["$t", "a$", "id"]), max_size=5, unique=True),
       st.integers(0, 6))
def test_columns_are_written_as_each_row_is(data, names, rows) -> None:
    """dumps_columns (an import's batch, a column at a time) gives each row's dumps_flat text,
    or None and the rows are encoded one by one."""
    columns = [data.draw(st.lists(data.draw(st.sampled_from(_COLUMN_KINDS)), min_size=rows, max_size=rows))
               for _ in names]
    fields = [dict(zip(names, row)) for row in zip(*columns)] if names else [{} for _ in range(rows)]
    texts = dumps_columns(names, columns, rows)
    if texts is not None:
        assert texts == [dumps_flat(f) for f in fields]
    elif all(not name.startswith("$") for name in names):  # taken whenever the kinds are the simple ones
        simple = [set(map(type, c)) <= {str, int, float, bool, type(None)}
                  or (set(map(type, c)) <= {datetime, type(None)} and all(v.tzinfo is UTC for v in c if v is not None))
                  for c in columns]
        assert not all(simple) or any(map(_orjson_refuses, itertools.chain.from_iterable(columns)))


def _orjson_refuses(value) -> bool:
    return (type(value) is str and "\ud800" in value) or (type(value) is int and not -2**63 <= value < 2**64)


def test_the_text_is_the_standard_librarys_for_what_both_write() -> None:
    value = {"t": datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))), "d": date(2026, 12, 1),
             "dur": Dur(3, "days"), "s": {1}, "tu": (1, 2), 3: "int key", "é": "ü", "x": [1.5, None, True]}
    assert dumps(value) == _ENCODER.encode(value)  # what segment SQL reads in contact fields is unchanged
    assert json.loads(dumps(value))["t"] == {"$t": "2025-12-31T23:00:00+00:00"}


def test_integers_beyond_64_bits_come_back_exact() -> None:
    value = {"id": BIG, "neg": -2**63 - 1, "ok": 2**64 - 1, "deep": [{"n": 10**30}]}
    text = dumps(value)
    assert text.endswith(SLOW_PATH) and json.loads(text) == value  # still JSON to any reader
    assert loads(text) == value and type(loads(text)["id"]) is int
    assert not dumps({"ok": 2**64 - 1}).endswith(SLOW_PATH)


def test_texts_the_fast_decoder_refuses_are_read_by_the_standard_library() -> None:
    got = loads('{"x": NaN, "t": {"$t": "2026-11-23T15:00:00+00:00"}}')  # written by an older fsl
    assert got["x"] != got["x"] and got["t"] == datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert dumps(float("nan")) == "null"  # not JSON, and refused by PostgreSQL's jsonb
    assert loads(None) is None and loads("") is None


def test_epoch_floors_to_the_second_on_both_sides_of_1970() -> None:
    for t in (datetime(2026, 11, 23, 15, 0, 59, 999999, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 500000,
                                                                                tzinfo=UTC)):
        assert epoch(t) == int((t - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 1)
    assert epoch(datetime(2026, 1, 1)) == epoch(datetime(2026, 1, 1, tzinfo=UTC))  # naive is UTC


# ------------------------------------------------------------------ enrollment state

def _enrollment() -> Enrollment:
    t = datetime(2026, 11, 23, 15, 0, 30, 123456, tzinfo=UTC)
    return Enrollment(7, "nurture", "h", "c1", None, started_at=t.replace(microsecond=0), step=2, resume=(1, 0, 2),
                      runs={"welcome": 1}, anchor=t, due_at=t + timedelta(days=3), vars={"at": t, "n": BIG},
                      offer={"pct": 10}, paused_until=t + timedelta(hours=1), wait_event="replied",
                      wait_ordinal=1, wait_since=t, last_deferral="cap")


def test_enrollment_state_round_trips_with_untagged_instants() -> None:
    en = _enrollment()
    row = {**R.enrollment_row(en, en.due_at, -50), "id": en.id}
    state = json.loads(row["state"])
    assert state["anchor"] == "2026-11-23T15:00:30.123456+00:00"  # plain text: no tag walk when read
    assert R.enrollment_from(row) == en


def test_enrollment_state_written_with_tags_by_an_older_fsl_reads_the_same() -> None:
    en = _enrollment()
    row = {**R.enrollment_row(en, en.due_at, -50), "id": en.id}
    old = json.loads(row["state"])
    for k in ("anchor", "due_at", "paused_until", "wait_since"):
        old[k] = {"$t": old[k]}
    old["vars"]["at"] = {"$t": en.vars["at"].isoformat()}
    assert R.enrollment_from({**row, "state": json.dumps(old)}) == en


# ------------------------------------------------------------------ migration 4

def test_migration_4_marks_the_texts_holding_big_integers_on_sqlite(tmp_path: Path) -> None:
    _migration_4_marks_the_texts_holding_big_integers(f"sqlite:///{tmp_path}/fsl.db")


def test_migration_4_marks_the_texts_holding_big_integers_on_postgresql(pg_url: str) -> None:  # noqa: F811
    _migration_4_marks_the_texts_holding_big_integers(pg_url)


def _migration_4_marks_the_texts_holding_big_integers(url: str) -> None:
    db = open_store(url)
    big = json.dumps({"account": BIG, "n": 1})  # as the standard library wrote it: no mark
    digits = json.dumps({"phone": "123456789012345678901234"})  # twenty digits in a string: nothing to do
    with db.write() as conn:
        conn.execute(contacts.insert(), [{"id": "a", "fields": big, "version": 0},
                                         {"id": "b", "fields": digits, "version": 0},
                                         {"id": "c", "fields": '{"n": 12}', "version": 0}])
        conn.execute(events.insert(), [{"at": 0, "type": "x", "fields": big, "status": "done"}])
        set_meta(conn, "schema_version", "3")
    before, after, ran = upgrade(db)
    assert (before, [m.version for m in ran][0]) == (3, 4)  # and any later migrations after it
    with db.read() as conn:
        got = dict(conn.execute(sa.select(contacts.c.id, contacts.c.fields)).all())
        ev = conn.execute(sa.select(events.c.fields)).scalar()
        assert current_version(conn) >= 4
    assert got == {"a": big + SLOW_PATH, "b": digits, "c": '{"n": 12}'} and ev == big + SLOW_PATH
    assert loads(got["a"])["account"] == BIG
    db.dispose()


# ------------------------------------------------------------------ one_of

def _one_of_finds_exactly_the_members(url: str) -> None:
    db = open_store(url)
    ids = [f"c{i}" for i in range(1200)] + ["it's", 'q"uote', "ü"]
    with db.write() as conn:
        conn.execute(contacts.insert(), [{"id": i, "fields": "{}", "version": 0} for i in ids])
        conn.execute(enrollments.insert(), [
            {"id": n, "playbook": "p", "plan_hash": "h", "contact": "c1", "status": "active", "rank": 0,
             "started_at": 0, "state": "{}"} for n in (1, 2, 3)])
    wanted = ids[::3] + ["nobody"]
    with db.read() as conn:
        found = {r[0] for r in conn.execute(sa.select(contacts.c.id).where(one_of(conn, contacts.c.id, wanted)))}
        assert found == set(ids[::3])
        assert not list(conn.execute(sa.select(contacts.c.id).where(one_of(conn, contacts.c.id, []))))
        nums = conn.execute(sa.select(enrollments.c.id).where(one_of(conn, enrollments.c.id, [3, 1, 99]))).scalars()
        assert sorted(nums) == [1, 3]
    db.dispose()


def test_one_of_on_sqlite(tmp_path: Path) -> None:
    _one_of_finds_exactly_the_members(f"sqlite:///{tmp_path}/fsl.db")


def test_one_of_on_postgresql(pg_url: str) -> None:  # noqa: F811
    _one_of_finds_exactly_the_members(pg_url)


def test_one_of_uses_the_index_on_sqlite(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path}/fsl.db")
    with db.read() as conn:
        q = sa.select(contacts.c.id).where(one_of(conn, contacts.c.id, ["a", "b"]))
        sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "SEARCH contacts USING" in plan and "(id=?)" in plan and "SCAN contacts" not in plan, plan
    db.dispose()
