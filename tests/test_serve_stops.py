"""A click or open some rule stops or pauses on is applied before `fsl serve` answers
(SIGNALS.md: a stop is immediate); one no rule acts on at once is recorded pending and
the next tick applies it (docs/DECISIONS.md: "Clicks and opens no rule stops on go to
the tick").  Over HTTP against `fsl serve` started as a process."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from fsl.signals import tokens

from .smtp_sink import free_port
from .test_ops_support import make_project, runtime
from .test_serve import BROWSER, HELLO, SECRET, SERVER, key_of, populate_and_tick, start_server, stop

PLAYBOOK = """\
playbook welcome:
    enroll on signed_up
    stop on clicked where not event.machine as clicked_by_person
    stop on unsubscribed

    step hello:
        send email "hello"

    step nudge after 1 day:
        send email "hello"
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-stops")
    config = make_project(folder, playbooks={"welcome": PLAYBOOK})
    (folder / "templates" / "hello.md").write_text(HELLO)
    port = free_port()
    with open(config, "a") as f:
        f.write(SERVER.format(port=port))
    populate_and_tick(config, 3)
    proc, log = start_server(folder, port)
    yield folder, f"http://127.0.0.1:{port}", config
    if proc.poll() is None:
        stop(proc)


EVENTS = "SELECT type, status FROM events WHERE contact = ? AND type != 'signed_up'"


def rows(folder: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(folder / "fsl.db") as conn:
        return conn.execute(sql, args).fetchall()


def test_a_click_a_rule_stops_on_ends_the_enrollment_before_the_redirect(served):
    folder, base, _ = served
    answer = httpx.get(f"{base}/c/{tokens.make(SECRET, key_of(folder, 'c0001'), 0)}", headers=BROWSER)
    assert answer.status_code == 302
    assert rows(folder, EVENTS, "c0001") == [("clicked", "done")]
    assert rows(folder, "SELECT status, outcome FROM enrollments WHERE contact = 'c0001'") == [
        ("ended", "clicked_by_person")]


def test_a_machine_click_is_applied_at_once_and_its_where_keeps_it_from_stopping(served):
    folder, base, _ = served
    answer = httpx.get(f"{base}/c/{tokens.make(SECRET, key_of(folder, 'c0003'), 0)}",
                       headers={"user-agent": "python-requests/2.31"})
    assert answer.status_code == 302
    # the rule names `clicked`, so it was applied at once; its `where` kept the machine out
    assert rows(folder, "SELECT type, status, fields FROM events WHERE contact = 'c0003' AND type != 'signed_up'") == [
        ("clicked", "done", '{"link":"pricing","machine":true}')]
    assert rows(folder, "SELECT status FROM enrollments WHERE contact = 'c0003'") == [("active",)]


def test_an_open_no_rule_acts_on_waits_for_the_tick_which_applies_it(served):
    folder, base, config = served
    answer = httpx.get(f"{base}/o/{tokens.make(SECRET, key_of(folder, 'c0002'), kind='open')}", headers=BROWSER)
    assert answer.status_code == 200
    assert rows(folder, EVENTS, "c0002") == [("opened", "pending")]
    rt = runtime(config)
    try:
        rt.tick(datetime.now(timezone.utc) + timedelta(minutes=1), deliver=False)  # (the server's clock is real)
    finally:
        rt.close()
    assert rows(folder, EVENTS, "c0002") == [("opened", "done")]
