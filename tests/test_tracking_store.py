"""Kept links, hits and reclassification in the store (fsl.signals.handover, fsl.signals.hits),
on SQLite and on PostgreSQL (FSL_TEST_POSTGRES_URL; skipped when unset)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from fsl.delivery.message import OutMessage
from fsl.delivery.tracking import track
from fsl.engine.model import Event
from fsl.signals import hits, machine
from fsl.signals.handover import TokenTracker, recall, remember
from fsl.signals.recording import Message
from fsl.store import open_store
from fsl.store.rows import event_row
from fsl.store.schema import events, tracking_hits

from .test_pg_support import pg_url  # noqa: F401 - the fixture

KEY = "12:hello:0:0"
T = TokenTracker("https://t.acme.example", "store-test-secret-0123456789", None)
AT = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path}/t.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = open_store(url)
    yield store
    store.dispose()


def _message(db) -> Message:
    tracked = track(OutMessage(KEY, "email", "send", "a@example.com", "Hi",
                               "See https://a.example/one and https://a.example/two?x=1"), T, {"one": "https://a.example/one"})
    remember(db, tracked, 1_000_000)
    remember(db, tracked, 2_000_000)  # a retry: the same row, the last hand-over's instant
    return Message(KEY, 12, "c1", None, "hello", "hello")


def test_links_are_kept_once_per_message_and_recalled(db):
    _message(db)
    with db.read() as conn:
        kept = recall(conn, KEY)
        assert conn.execute(sa.select(sa.func.count()).select_from(sa.text("tracked_messages"))).scalar() == 1
    assert kept is not None and kept.handed_at_ms == 2_000_000 and kept.trap == 2
    assert kept.links == [("one", "https://a.example/one"), (None, "https://a.example/two?x=1")]


def test_a_burst_reclassifies_the_event_just_before_it(db):
    message = _message(db)
    rules = machine.Rules(lists=machine.load_lists())
    start = 2_000_000 + 3_600_000  # an hour after the hand-over
    first = hits.judge(db, None, message, "click", 0, hits.Request(start, "81.2.3.4", BROWSER), rules, AT)
    assert first.url == "https://a.example/one" and first.event is not None
    assert first.event.fields == {"link": "one", "machine": False}
    with db.write() as conn:  # recorded as the server records it
        conn.execute(events.insert(), [event_row(first.event, "done", None, None)])
    second = hits.judge(db, None, message, "click", 1, hits.Request(start + 2000, "81.2.3.4", BROWSER), rules,
                        AT + timedelta(seconds=2))
    assert second.url == "https://a.example/two?x=1" and second.event is not None
    assert second.event.fields == {"machine": True}  # not a template link: no tag
    with db.read() as conn:
        fields, evidence = conn.execute(sa.select(events.c.fields, events.c.evidence)).one()
        kinds = [r[0] for r in conn.execute(sa.select(tracking_hits.c.machine).order_by(tracking_hits.c.id))]
    assert json.loads(fields) == {"link": "one", "machine": True}
    assert "part of a burst over the message's links" in json.loads(evidence)
    assert kinds == [0, 1]


def test_the_trap_records_no_event_and_unknown_indexes_go_nowhere(db):
    message = _message(db)
    rules = machine.Rules(lists=machine.load_lists())
    trap = hits.judge(db, None, message, "click", 2, hits.Request(9_000_000, None, BROWSER), rules, AT)
    assert trap.trap and trap.event is None and trap.url is None
    beyond = hits.judge(db, None, message, "click", 7, hits.Request(9_001_000, None, BROWSER), rules, AT)
    assert beyond.url is None and isinstance(beyond.event, Event) and beyond.event.fields["machine"] is True
