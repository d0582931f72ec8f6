"""Our Message-IDs name their enrollment, so a reply or a provider's event
finds its send through the enrollment's few sends, not through an index of
every Message-ID (fsl.store.sent, schema v15); the Message-IDs sent before
v15 still match, through a partial index only they are in."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from fsl.delivery.message import message_id, reference
from fsl.inbox.matching import Matcher
from fsl.signals.providers.common import ProviderEvent, match
from fsl.store import open_store, upgrade
from fsl.store.db import Database
from fsl.store.schema import LEGACY_MESSAGE_ID, actions
from fsl.store.sent import sends_by_message_id

from .test_migrations import _build_at
from .test_pg_support import pg_url, pg_urls  # noqa: F401 - the fixtures

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
DOMAIN = "acme.example"


def legacy_id(key: str, domain: str = DOMAIN) -> str:
    """The Message-ID fsl sent before schema v15: the key's hash alone."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}.fsl@{domain}>"


def _send(conn, key: str, mid: str | None, contact: str = "c1") -> None:
    enrollment = int(key.split(":", 1)[0])
    conn.execute(sa.insert(actions).values(
        key=key, enrollment=enrollment, contact=contact, playbook="hello", step=key.split(":")[1], kind="send",
        at=int(NOW.timestamp()), line=0, payload="{}", status="delivered", attempts=1, message_id=mid))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path}/fsl.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = open_store(url)
    with db.write() as conn:
        for key in ("7:hello:0:0", "7:follow:0:0", "8:hello:0:0", "123456789:hello:2:1"):
            _send(conn, key, message_id(key, DOMAIN))
        _send(conn, "9:hello:0:0", legacy_id("9:hello:0:0"))  # delivered before the upgrade
    yield db
    db.dispose()


def _keys(db, ids: list[str]) -> list[str]:
    with db.read() as conn:
        return sorted(r["key"] for r in sends_by_message_id(conn, ids, (actions.c.key,)))


def test_the_message_id_names_its_enrollment_and_reads_back():
    mid = message_id("123456789:winback_offer:2:1", DOMAIN)
    assert "winback" not in mid and mid.endswith(".fsl@acme.example>")
    ref = reference(mid)
    assert ref is not None and (ref.message_id, ref.enrollment) == (mid, 123456789)
    assert reference(mid.strip("<>")) == ref  # providers report it without its brackets
    assert reference(legacy_id("9:hello:0:0")) is not None and reference(legacy_id("9:hello:0:0")).enrollment is None
    assert reference("<r1@example.com>") is None and reference("<x.7.fsl@acme.example>") is None
    assert message_id("k", None) == legacy_id("k", "fsl.invalid")  # a key of another form: the older form
    biggest = reference(message_id(f"{2**63 - 1}:s:0:0", DOMAIN))  # the largest BIGINT fits
    assert biggest is not None and biggest.enrollment == 2**63 - 1


def test_sends_are_found_by_their_message_id_round_trip(store):
    for key in ("7:hello:0:0", "7:follow:0:0", "8:hello:0:0", "123456789:hello:2:1"):
        mid = message_id(key, DOMAIN)
        assert _keys(store, [mid]) == [key]
        assert _keys(store, [mid.strip("<>")]) == [key]
    both = [message_id("7:follow:0:0", DOMAIN), message_id("8:hello:0:0", DOMAIN)]
    assert _keys(store, both) == ["7:follow:0:0", "8:hello:0:0"]


def test_a_forged_or_altered_message_id_is_not_trusted(store):
    mid = message_id("7:hello:0:0", DOMAIN)
    digest, enrollment = mid[1:33], mid[34:].split(".", 1)[0]
    assert enrollment == "7"
    forged = [
        mid.replace(f".{enrollment}.", ".8.", 1),  # another enrollment, which has sends
        f"<{'0' * 32}.7.fsl@{DOMAIN}>",  # a made-up digest for a real enrollment
        f"<{digest[:-1]}{'1' if digest[-1] != '1' else '2'}.7.fsl@{DOMAIN}>",  # one digit changed
        mid.replace(DOMAIN, "evil.example"),  # another domain
        f"<{message_id('7:hello:0:0', DOMAIN)[1:33]}.fsl@{DOMAIN}>",  # the digest in the legacy form
        message_id("7:hello:1:0", DOMAIN),  # well formed, but no such send
    ]
    for fake in forged:
        assert _keys(store, [fake]) == [], fake
    with store.read() as conn:
        assert Matcher(conn).by_ids(forged) is None
        assert match(conn, ProviderEvent("test", "e1", "delivered", NOW, forged[0], None, None, {}, ())) is None


def test_a_message_id_of_the_older_form_still_matches(store):
    old = legacy_id("9:hello:0:0")
    assert _keys(store, [old]) == ["9:hello:0:0"]
    with store.read() as conn:
        target = Matcher(conn).by_ids(["<r0@example.com>", old])
        assert target is not None and (target.enrollment, target.step) == (9, "hello")
        assert match(conn, ProviderEvent("test", "e1", "delivered", NOW, old.strip("<>"), None, None, {}, ())) \
            == "9:hello:0:0"


def test_in_reply_to_wins_over_references(store):
    first, second = message_id("8:hello:0:0", DOMAIN), message_id("7:hello:0:0", DOMAIN)
    with store.read() as conn:
        target = Matcher(conn).by_ids([first, second])
    assert target is not None and target.enrollment == 8


def test_only_older_message_ids_enter_the_partial_index(store):
    """New sends never write to ix_actions_legacy_message_id: their ids fail its condition."""
    new, old = message_id("7:hello:0:0", DOMAIN), legacy_id("7:hello:0:0")
    condition = LEGACY_MESSAGE_ID.replace("message_id", ":mid")
    with store.read() as conn:
        assert conn.execute(sa.text(f"SELECT {condition}"), {"mid": new}).scalar() in (False, 0)
        assert conn.execute(sa.text(f"SELECT {condition}"), {"mid": old}).scalar() in (True, 1)
        assert conn.execute(sa.text(f"SELECT {condition}"), {"mid": None}).scalar() is None


def test_the_lookups_use_an_index_not_a_scan(tmp_path):
    db = open_store(f"sqlite:///{tmp_path}/fsl.db")
    a = actions.c
    try:
        with db.read() as conn:
            queries = {
                "ix_actions_enrollment": sa.select(a.key).where(a.enrollment.in_([7]), a.kind == "send",
                                                                a.message_id.in_([message_id("7:h:0:0", DOMAIN)])),
                "ix_actions_legacy_message_id": sa.select(a.key).where(
                    a.message_id.in_([legacy_id("7:h:0:0")]), a.kind == "send", sa.text(LEGACY_MESSAGE_ID)),
            }
            for index, q in queries.items():
                sql = str(q.compile(conn, compile_kwargs={"literal_binds": True}))
                plan = " ".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert f"USING INDEX {index}" in plan, plan
    finally:
        db.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_an_older_message_id_matches_after_the_upgrade_of_a_store_holding_it(dialect, tmp_path, request):
    url = f"sqlite:///{tmp_path}/fsl.db" if dialect == "sqlite" else request.getfixturevalue("pg_urls")()
    _build_at(url, 14)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _send(conn, "41:hello:0:0", legacy_id("41:hello:0:0"))
        _send(conn, "42:hello:0:0", None)  # not delivered yet: the upgraded runtime gives it the new form
    engine.dispose()
    db = Database(url)
    try:
        upgrade(db)
        assert _keys(db, [legacy_id("41:hello:0:0")]) == ["41:hello:0:0"]
        with db.write() as conn:  # the hand-over after the upgrade stores the new form
            conn.execute(actions.update().where(actions.c.key == "42:hello:0:0")
                         .values(message_id=message_id("42:hello:0:0", DOMAIN)))
        assert _keys(db, [message_id("42:hello:0:0", DOMAIN), legacy_id("41:hello:0:0")]) \
            == ["41:hello:0:0", "42:hello:0:0"]
    finally:
        db.dispose()
