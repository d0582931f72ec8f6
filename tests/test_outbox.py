"""The outbox against a real SMTP server on loopback: Message-IDs, retries,
permanent failures, isolation of a failing contact, cancellation by stop
and pause rules, tasks."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.message import message_id
from fsl.engine.model import Event
from fsl.store.schema import actions, tasks

from .test_ops_support import T0, SmtpServer, at, cli, make_project, populate, runtime


def _rows(config: Path) -> dict[str, dict]:
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            return {r["key"]: dict(r) for r in conn.execute(sa.select(actions)).mappings()}
    finally:
        rt.close()


def test_every_message_carries_the_message_id_of_its_key(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port)
        populate(config, 3)
        result = cli("tick", "--now", at(), "--format", "json", cwd=tmp_path)
        assert result.exit_code == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["steps"] == 3 and report["delivered"] == 3 and report["failed"] == 0
        rows = _rows(config)
        want = {message_id(key, "acme.example") for key in rows}
        assert set(smtp.sink.by_message_id()) == want
        assert all(r["status"] == "delivered" and r["message_id"] in want for r in rows.values())
        assert {a["subject"] for a in smtp.sink.arrivals} == {"Hello User1", "Hello User2", "Hello User3"}


def test_a_451_is_retried_with_backoff_then_delivered(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        smtp.sink.answers["user1@example.com"] = [451]
        config = make_project(tmp_path, port=smtp.port)
        populate(config, 3)
        first = json.loads(cli("tick", "--now", at(), "--format", "json", cwd=tmp_path).stdout)
        assert (first["delivered"], first["retried"], first["failed"]) == (2, 1, 0)
        row = next(r for r in _rows(config).values() if r["contact"] == "c0001")
        assert row["status"] == "pending" and row["attempts"] == 1 and "451" in row["last_error"]
        assert row["next_attempt_at"] == int((T0 + timedelta(seconds=60)).timestamp())  # base 60 s, no jitter
        early = json.loads(cli("tick", "--now", at(0.5), "--format", "json", cwd=tmp_path).stdout)
        assert early["delivered"] == 0  # not due yet
        second = json.loads(cli("tick", "--now", at(2), "--format", "json", cwd=tmp_path).stdout)
        assert second["delivered"] == 1
        row = next(r for r in _rows(config).values() if r["contact"] == "c0001")
        assert row["status"] == "delivered" and row["attempts"] == 2
        counts = smtp.sink.by_message_id()
        assert len(counts) == 3 and set(counts.values()) == {1}


def test_a_550_fails_at_once_and_is_reported(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        smtp.sink.answers["user2@example.com"] = [550] * 5
        config = make_project(tmp_path, port=smtp.port)
        populate(config, 3)
        result = cli("tick", "--now", at(), cwd=tmp_path)
        assert result.exit_code == 1  # the command ran and found problems
        assert "failed: c0002 welcome/hello via email" in result.stdout and "550" in result.stdout
        row = next(r for r in _rows(config).values() if r["contact"] == "c0002")
        assert row["status"] == "failed" and row["attempts"] == 1
        status = json.loads(cli("status", "--format", "json", cwd=tmp_path).stdout)
        book = status["playbooks"][0]
        assert book["failed"] == 1 and status["recent_failures"][0]["contact"] == "c0002"
        text = cli("status", cwd=tmp_path).stdout
        assert "recent delivery failures" in text and "550" in text
        explain = json.loads(cli("explain", "c0002", "--format", "json", cwd=tmp_path).stdout)
        assert explain["enrollments"][0]["messages"][0]["status"] == "failed"
        assert len(smtp.sink.arrivals) == 2


def test_a_failing_contact_never_blocks_the_others(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        smtp.sink.answers["user1@example.com"] = [451] * 20  # never accepted
        config = make_project(tmp_path, port=smtp.port, attempts=3)
        populate(config, 20)
        first = json.loads(cli("tick", "--now", at(), "--format", "json", cwd=tmp_path).stdout)
        assert first["delivered"] == 19 and first["retried"] == 1
        for minutes in (2, 5, 30):
            cli("tick", "--now", at(minutes), cwd=tmp_path)
        row = next(r for r in _rows(config).values() if r["contact"] == "c0001")
        assert row["status"] == "failed" and row["attempts"] == 3
        assert row["last_error"].startswith("gave up after 3 attempts")
        # and the next day's messages of everyone else still go out
        later = json.loads(cli("tick", "--now", at(days=1, minutes=1), "--format", "json", cwd=tmp_path).stdout)
        assert later["delivered"] >= 19
        assert all(n == 1 for n in smtp.sink.by_message_id().values())


def test_stop_and_pause_rules_cancel_what_was_not_handed_over(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port)
        populate(config, 3)
        assert cli("tick", "--now", at(), "--no-deliver", cwd=tmp_path).exit_code == 0
        assert all(r["status"] == "pending" for r in _rows(config).values())
        rt = runtime(config)
        rt.record_events([Event(T0 + timedelta(minutes=1), "replied", "c0001", None, "hello", {"kind": "human"}),
                          Event(T0 + timedelta(minutes=1), "replied", "c0002", None, "hello",
                                {"kind": "out_of_office"})])
        rt.close()
        result = json.loads(cli("tick", "--now", at(2), "--format", "json", cwd=tmp_path).stdout)
        assert result["delivered"] == 1
        rows = {r["contact"]: r for r in _rows(config).values()}
        assert rows["c0001"]["status"] == "cancelled" and "stop on replied" in rows["c0001"]["last_error"]
        assert rows["c0002"]["status"] == "cancelled" and "pause on replied" in rows["c0002"]["last_error"]
        assert rows["c0003"]["status"] == "delivered"
        assert [a["to"] for a in smtp.sink.arrivals] == [["user3@example.com"]]


def test_tasks_land_on_the_to_do_list(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port)
        populate(config, 4)
        cli("tick", "--now", at(), cwd=tmp_path)
        cli("tick", "--now", at(days=1, minutes=5), cwd=tmp_path)
    rt = runtime(config)
    with rt.db.read() as conn:
        rows = conn.execute(sa.select(tasks)).mappings().all()
    rt.close()
    assert sorted(r["contact"] for r in rows) == ["c0001", "c0002", "c0003", "c0004"]
    assert {r["kind"] for r in rows} == {"call"} and rows[0]["text"].startswith("Call User")
    listing = json.loads(cli("tasks", "--format", "json", "--now", at(days=1, minutes=5), cwd=tmp_path).stdout)
    assert len(listing["tasks"]) == 4
    mine = json.loads(cli("tasks", "--owner", "rep@acme.example", "--format", "json", cwd=tmp_path).stdout)
    assert {t["contact"] for t in mine["tasks"]} == {"c0001", "c0003"}
    ana = json.loads(cli("tasks", "--owner", "ana@acme.example", "--format", "json", cwd=tmp_path).stdout)
    assert {t["contact"] for t in ana["tasks"]} == {"c0002", "c0004"}
    today = json.loads(cli("tasks", "--due", "today", "--now", at(), "--format", "json", cwd=tmp_path).stdout)
    assert today["tasks"] == []  # due tomorrow
    first = listing["tasks"][0]["id"]
    done = cli("tasks", "done", str(first), cwd=tmp_path)
    assert done.exit_code == 0 and f"task {first} done" in done.stdout
    again = cli("tasks", "done", str(first), "--format", "json", cwd=tmp_path)
    assert again.exit_code == 0 and json.loads(again.stdout)["changed"] is False
    left = json.loads(cli("tasks", "--format", "json", cwd=tmp_path).stdout)
    assert first not in {t["id"] for t in left["tasks"]}
    every = json.loads(cli("tasks", "--all", "--format", "json", cwd=tmp_path).stdout)
    assert len(every["tasks"]) == 4
    text = cli("tasks", cwd=tmp_path)
    assert text.exit_code == 0 and "Call User" in text.stdout
    assert cli("tasks", "done", "999", cwd=tmp_path).exit_code == 2
    assert cli("tasks", "done", "x", cwd=tmp_path).exit_code == 2
