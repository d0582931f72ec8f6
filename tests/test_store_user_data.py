"""User data is never read as the codec's tags: `$` keys escaped on the way in,
old rows read as before (migration 5), texts jsonb refuses (NUL, lone
surrogates) kept exactly and left to the engine by segment SQL."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from fsl.engine.evaluate import Dur
from fsl.store import open_store, schema_version, upgrade
from fsl.store.codec import SLOW_PATH, dumps, loads, loads_v4
from fsl.store.migrations import current_version
from fsl.store.plans import set_meta
from fsl.store.schema import contacts, enrollments, events

from .test_pg_support import pg_url  # noqa: F401 - the fixture

UTC = timezone.utc
AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

dollar_keys = st.sampled_from(["$t", "$d", "$dur", "$$t", "$", "$$", "$$$d", "$x", "t"]) | st.text(max_size=4)
tag_shaped = st.sampled_from(["vip", "2026-01-01", "2026-01-01T00:00:00+00:00", "", "$t"])
user_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | tag_shaped | st.text()
    | st.floats(allow_nan=False, allow_infinity=False) | st.lists(st.just(1) | tag_shaped, min_size=2, max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(dollar_keys, inner, max_size=3),
    max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(user_json)
def test_user_data_shaped_like_tags_round_trips(value) -> None:
    assert loads(dumps(value)) == value
    mixed = {"data": value, "at": AT, "on": date(2026, 1, 2), "gap": Dur(3, "days")}
    assert loads(dumps(mixed)) == mixed


def test_the_issue_contact_and_its_text() -> None:
    fields = {"tags": [{"$t": "vip"}], "first_seen": AT}
    text = dumps(fields)
    assert json.loads(text) == {"tags": [{"$$t": "vip"}], "first_seen": {"$t": AT.isoformat()}}
    assert loads(text) == fields


def test_texts_without_user_dollar_keys_are_unchanged() -> None:
    value = {"price": "$100", "at": AT, "n": [1, "$"]}  # $ in values only: not escaped
    assert json.loads(dumps(value))["price"] == "$100"
    assert dumps({"a": 1, "at": AT}) == '{"a":1,"at":{"$t":"2026-11-23T15:00:00+00:00"}}'


def test_an_older_row_with_user_data_shaped_like_a_tag_reads_as_that_data() -> None:
    # written before escaping: `{"$t": "vip"}` is no instant, so it is the user's
    assert loads('{"tags":[{"$t":"vip"}],"x":{"$dur":[1,"fortnights"]},"y":{"$d":5}}') == {
        "tags": [{"$t": "vip"}], "x": {"$dur": [1, "fortnights"]}, "y": {"$d": 5}}
    assert loads('{"big":18446744073709551616,"tags":[{"$t":"vip"}]} ') == {"big": 2**64, "tags": [{"$t": "vip"}]}


def test_nul_lone_surrogates_and_big_integers_are_kept_exactly() -> None:
    value = {"nul": "a\x00b", "lone": "\ud800x\udfff", "big": -2**80, "$t": "é"}
    text = dumps(value)
    text.encode("utf-8")  # storable as UTF-8 text (a lone surrogate is escaped)
    assert text.endswith(SLOW_PATH) and loads(text) == value


# ------------------------------------------------------------------ migration 7

def _migration_7_keeps_what_older_rows_meant(url: str) -> None:
    db = open_store(url)
    # as fsl wrote them before version 7: user keys as they were, instants tagged
    old = {
        "a": '{"$$x":1,"at":{"$t":"2026-11-23T15:00:00+00:00"}}',
        "b": '{"tags":[{"$t":"vip"}],"p":"$$100"}',
        "c": '{"n":{"$$$":[{"$$t":"x"}]},"big":18446744073709551616} ',
        "d": '{"plain":1}',
    }
    meant = {cid: loads_v4(text) for cid, text in old.items()}
    with db.write() as conn:
        conn.execute(contacts.insert(), [{"id": i, "fields": f, "version": 0} for i, f in old.items()])
        conn.execute(events.insert(), [{"at": 0, "type": "x", "fields": old["a"], "status": "done"}])
        conn.execute(enrollments.insert(), [{"id": 1, "playbook": "p", "plan_hash": "h", "contact": "a",
                                             "status": "active", "rank": 0, "started_at": 0,
                                             "state": '{"vars":{"$$v":2}}'}])
        set_meta(conn, "schema_version", "6")
    before, after, ran = upgrade(db)
    assert (before, after, [m.version for m in ran][:1]) == (6, schema_version(), [7])
    with db.read() as conn:
        got = dict(conn.execute(sa.select(contacts.c.id, contacts.c.fields)).all())
        ev = conn.execute(sa.select(events.c.fields)).scalar()
        state = conn.execute(sa.select(enrollments.c.state)).scalar()
        assert current_version(conn) == schema_version()
    assert {cid: loads(text) for cid, text in got.items()} == meant
    assert meant["a"] == {"$$x": 1, "at": datetime(2026, 11, 23, 15, tzinfo=UTC)}
    assert loads(ev) == meant["a"] and loads(state) == {"vars": {"$$v": 2}}
    assert json.loads(got["b"])["tags"] == [{"$$t": "vip"}]  # rewritten in today's form
    assert got["d"] == old["d"]  # no "$$: not looked at
    db.dispose()


def test_migration_7_keeps_what_older_rows_meant_on_sqlite(tmp_path: Path) -> None:
    _migration_7_keeps_what_older_rows_meant(f"sqlite:///{tmp_path}/fsl.db")


def test_migration_7_keeps_what_older_rows_meant_on_postgresql(pg_url: str) -> None:  # noqa: F811
    _migration_7_keeps_what_older_rows_meant(pg_url)


# ------------------------------------------------------------------ stored text

def _stored_texts_round_trip(url: str) -> None:
    db = open_store(url)
    values = {"nul": {"s": "\x00", "k\x00": [{"$t": "\x00"}]}, "lone": {"s": "\udc00"}, "big": {"n": 10**40},
              "mb": {"s": "x" * 1_000_000 + "\x00"}, "deep": {"d": [[[[{"$dur": [1, "days"]}]]]]}}
    with db.write() as conn:
        conn.execute(contacts.insert(), [{"id": i, "fields": dumps(v), "version": 0} for i, v in values.items()])
    with db.read() as conn:
        got = {i: loads(f) for i, f in conn.execute(sa.select(contacts.c.id, contacts.c.fields))}
    assert got == values
    db.dispose()


def test_stored_texts_round_trip_on_sqlite(tmp_path: Path) -> None:
    _stored_texts_round_trip(f"sqlite:///{tmp_path}/fsl.db")


def test_stored_texts_round_trip_on_postgresql(pg_url: str) -> None:  # noqa: F811
    _stored_texts_round_trip(pg_url)


# ------------------------------------------------------------------ segment SQL

def _prefilter_keeps_what_jsonb_cannot_read(url: str) -> None:
    from fsl.store.segment_sql import prefilter_moves

    db = open_store(url)
    people = {"nul": {"tier": "A\x00"}, "lone": {"tier": "\ud800", "n": 10**30}, "a": {"tier": "A"},
              "b": {"tier": "B"}, "tagged": {"tier": {"$t": "vip"}}}
    with db.write() as conn:
        conn.execute(contacts.insert(), [{"id": i, "fields": dumps(f), "version": 0} for i, f in people.items()])
    tree = {"op": "==", "args": [{"path": ["contact", "tier"]}, {"lit": "A"}]}
    with db.read() as conn:
        got = {r[0] for r in conn.execute(sa.select(contacts.c.id).where(prefilter_moves(tree, db.dialect, 0)[0]))}
    # a NUL or a lone surrogate makes PostgreSQL's jsonb refuse the text: left to the engine (kept);
    # SQLite's json_extract ends text at a NUL ("A\x00" reads "A"): kept too, a superset is safe
    assert got == ({"a", "nul", "lone"} if db.dialect == "postgresql" else {"a", "nul"})
    db.dispose()


def test_prefilter_with_unreadable_json_on_sqlite(tmp_path: Path) -> None:
    _prefilter_keeps_what_jsonb_cannot_read(f"sqlite:///{tmp_path}/fsl.db")


def test_prefilter_with_unreadable_json_on_postgresql(pg_url: str) -> None:  # noqa: F811
    _prefilter_keeps_what_jsonb_cannot_read(pg_url)


def _any_json_round_trips_through_the_database(url: str) -> None:
    db = open_store(url)
    n = iter(range(10**6))

    @settings(max_examples=60, deadline=None)
    @given(user_json, st.sampled_from(["", "\x00", "\ud800", "\x00\udfff$"]))
    def one(value, odd) -> None:
        fields = {"v": value, "odd": odd, odd: [odd], "at": AT}
        cid = f"c{next(n)}"
        with db.write() as conn:
            conn.execute(contacts.insert().values(id=cid, fields=dumps(fields), version=0))
        with db.read() as conn:
            text = conn.execute(sa.select(contacts.c.fields).where(contacts.c.id == cid)).scalar()
        assert loads(text) == fields

    one()
    db.dispose()


def test_any_json_round_trips_through_sqlite(tmp_path: Path) -> None:
    _any_json_round_trips_through_the_database(f"sqlite:///{tmp_path}/fsl.db")


def test_any_json_round_trips_through_postgresql(pg_url: str) -> None:  # noqa: F811
    _any_json_round_trips_through_the_database(pg_url)
