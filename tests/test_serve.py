"""`fsl serve` (SIGNALS.md 1, 2): a real server process, real HTTP.

The project is test_ops_support's `welcome` playbook, its `hello` template
given two `links:`; a tick (no delivery) queues a `hello` message per
contact, whose outbox keys the tokens name.  Each test uses its own contact.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from fsl.signals import tokens

from .smtp_sink import free_port
from .test_ops_support import T0, cli, make_project, populate, runtime

SECRET = "serve-test-secret-0123456789abcdef"
OLD_SECRET = "serve-test-old-secret-fedcba987654"
EVENTS_TOKEN = "serve-test-events-token-5555aaaa"
PRICING = "https://acme.example/pricing?plan=pro&utm_source=fsl#compare"
# a person's browser (httpx's own User-Agent is, rightly, machine evidence: fsl.signals.machine)
BROWSER = {"user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
                         "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"}

HELLO = f"""\
---
subject: "Hello {{{{ contact.first_name }}}}"
links:
  pricing: "{PRICING}"
  docs: "https://docs.acme.example/start"
---
Hi {{{{ contact.first_name }}}}, see {{{{ links.pricing }}}} and {{{{ links.docs }}}}.
"""

SERVER = """
server:
  base_url: http://127.0.0.1:{port}
  listen: 127.0.0.1:{port}
  secret: ${{FSL_SERVER_SECRET}}
  secrets_old: ["${{FSL_OLD_SECRET}}"]
  events_token: ${{FSL_EVENTS_TOKEN}}
  max_body: 4096
"""


def _env() -> dict:
    env = dict(os.environ, FSL_SERVER_SECRET=SECRET, FSL_OLD_SECRET=OLD_SECRET, FSL_EVENTS_TOKEN=EVENTS_TOKEN)
    env.pop("FSL_STORE", None)
    return env


def start_server(folder: Path, port: int, *args: str) -> tuple[subprocess.Popen, Path]:
    """`fsl serve` as its own process, once /healthz answers (never a fixed sleep)."""
    log = folder / f"serve-{port}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fsl", "serve", "--listen", f"127.0.0.1:{port}", *args],
                                cwd=folder, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return proc, log
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a condition, not waiting a fixed time
    proc.kill()
    raise AssertionError("fsl serve did not answer /healthz:\n" + log.read_text())


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)



def populate_and_tick(config: Path, n: int, environ: dict | None = None, *, deliver: bool = False) -> None:
    """N contacts signed up and ticked once (sends recorded; handed to the channel with
    `deliver`), with the server's secrets (or `environ`) in the environment: the runtime
    reads the same fsl.yaml.  The environment is as it was afterwards."""
    saved = dict(os.environ)
    os.environ.update(_env() if environ is None else environ)
    try:
        populate(config, n)
        rt = runtime(config)
        try:
            rt.tick(T0 + timedelta(minutes=1), deliver=deliver)
        finally:
            rt.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve")
    config = make_project(folder)
    (folder / "templates" / "hello.md").write_text(HELLO)
    port = free_port()
    with open(config, "a") as f:
        f.write(SERVER.format(port=port))
    populate_and_tick(config, 12)
    proc, log = start_server(folder, port)
    yield folder, f"http://127.0.0.1:{port}", proc, log
    if proc.poll() is None:
        stop(proc)


def db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / "fsl.db")


def key_of(folder: Path, contact: str) -> str:
    with db(folder) as conn:
        return conn.execute("SELECT key FROM actions WHERE contact = ? AND step = 'hello'", (contact,)).fetchone()[0]


def events_of(folder: Path, contact: str) -> list[tuple]:
    with db(folder) as conn:
        return conn.execute("SELECT type, step, fields, status, flag FROM events WHERE contact = ? "
                            "AND type != 'signed_up' ORDER BY id", (contact,)).fetchall()


def all_events(folder: Path) -> int:
    with db(folder) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_click_redirects_to_the_exact_url_of_the_message_and_records_clicked(served):
    folder, base, _, _ = served
    token = tokens.make(SECRET, key_of(folder, "c0001"), 0)
    answer = httpx.get(f"{base}/c/{token}", headers=BROWSER)
    assert answer.status_code == 302
    assert answer.headers["location"] == PRICING
    # no rule of the project stops or pauses on `clicked`: recorded for the next tick to apply
    assert events_of(folder, "c0001") == [("clicked", "hello", '{"link":"pricing","machine":false}', "pending", None)]
    with db(folder) as conn:
        assert conn.execute("SELECT source FROM events WHERE contact = 'c0001' AND type = 'clicked'").fetchone() \
            == ("tracking",)
    second = httpx.get(f"{base}/c/{tokens.make(SECRET, key_of(folder, 'c0001'), 1)}")
    assert second.headers["location"] == "https://docs.acme.example/start"
    assert len(events_of(folder, "c0001")) == 2  # each request is its own event


def test_a_token_signed_with_an_old_secret_still_works(served):
    folder, base, _, _ = served
    answer = httpx.get(f"{base}/o/{tokens.make(OLD_SECRET, key_of(folder, 'c0002'), kind='open')}")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/gif"
    assert [e[0] for e in events_of(folder, "c0002")] == ["opened"]


def test_get_unsubscribe_shows_a_button_and_post_unsubscribes_at_once(served):
    folder, base, _, _ = served
    url = f"{base}/u/{tokens.make(SECRET, key_of(folder, 'c0003'), kind='unsubscribe')}"
    page = httpx.get(url)
    assert page.status_code == 200 and '<form method="post"' in page.text and "<button" in page.text
    assert events_of(folder, "c0003") == []  # a GET never unsubscribes
    answer = httpx.post(url, content=b"List-Unsubscribe=One-Click",
                        headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200
    # committed before the response: the enrollment ended, its unsent message withdrawn
    assert [e[0] for e in events_of(folder, "c0003")] == ["unsubscribed"]
    with db(folder) as conn:
        assert conn.execute("SELECT status, outcome FROM enrollments WHERE contact = 'c0003'").fetchall() == [
            ("ended", "unsubscribed")]
        assert conn.execute("SELECT status FROM actions WHERE contact = 'c0003' AND kind = 'send'").fetchall() == [
            ("cancelled",)]
        assert conn.execute("SELECT status FROM actions WHERE contact = 'c0004' AND kind = 'send'").fetchall() == [
            ("pending",)]  # another contact's message is untouched


def test_forged_tampered_truncated_and_misused_tokens_record_nothing(served):
    folder, base, _, _ = served
    key = key_of(folder, "c0005")
    good = tokens.make(SECRET, key, 0)
    payload, sig = good.split(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    before = all_events(folder)
    for path in [f"/c/{tokens.make('an-attacker-secret-0000000000', key, 0)}",  # forged
                 f"/c/{flipped}.{sig}",  # tampered
                 f"/c/{good[:-5]}",  # truncated
                 f"/c/{payload}",  # no signature
                 f"/u/{good}",  # a click token replayed on unsubscribe
                 f"/o/{good}",
                 "/c/not-a-token"]:
        answer = httpx.get(base + path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]
    assert httpx.post(f"{base}/u/{good}", content=b"List-Unsubscribe=One-Click").status_code == 404
    assert all_events(folder) == before


def test_a_valid_token_of_a_message_the_outbox_lacks_is_kept_as_unmatched(served):
    folder, base, _, _ = served
    answer = httpx.get(f"{base}/c/{tokens.make(SECRET, '999:gone:0:0', 0)}")
    assert answer.status_code == 404
    with db(folder) as conn:
        assert conn.execute("SELECT type, contact, step, flag FROM events WHERE step = 'gone'").fetchall() == [
            ("clicked", None, "gone", "unknown_message")]
    status = cli("status", "--format", "json", cwd=folder)
    assert json.loads(status.stdout)["unknown_events"]["unknown_message"] >= 1


def test_events_endpoint_wants_the_bearer_token(served):
    folder, base, _, _ = served
    item = {"at": "2026-11-24T10:00:00Z", "type": "replied", "contact": "c0006", "kind": "human"}
    assert httpx.post(f"{base}/hooks/events", json=item).status_code == 401
    wrong = httpx.post(f"{base}/hooks/events", json=item, headers={"authorization": "Bearer wrong-token"})
    assert wrong.status_code == 401
    assert events_of(folder, "c0006") == []


def test_events_endpoint_keeps_good_items_and_reports_bad_ones_with_their_index(served):
    folder, base, _, _ = served
    batch = [{"at": "2026-11-24T10:00:00Z", "type": "replied", "contact": "c0007", "kind": "human"},
             {"at": "2026-11-24T10:00:00Z", "type": "no_such_event", "contact": "c0007"},
             "not an object",
             {"at": "2026-11-24T10:00:00Z", "type": "replied", "contact": "c0007", "kind": 42},
             {"at": "not a time", "type": "replied", "contact": "c0007"},
             {"at": "2026-11-24T10:00:00Z", "type": 5, "contact": "c0007"},
             {"at": "2026-11-24T10:00:00Z", "type": "opened", "contact": ["c0007"]},
             {"at": "2026-11-24T10:00:00Z", "type": "update", "contact": "c0007", "set": "x"},
             {"at": "2026-11-24T10:05:00Z", "type": "opened", "contact": "c0007", "colour": "red"}]
    answer = httpx.post(f"{base}/hooks/events", json=batch, headers={"authorization": f"Bearer {EVENTS_TOKEN}"})
    assert answer.status_code == 422
    document = answer.json()
    assert document["recorded"] == 2
    assert [e["index"] for e in document["errors"]] == [1, 2, 3, 4, 5, 6, 7]
    assert "no_such_event" in document["errors"][0]["reason"]
    assert any(w.startswith("item 8: 'opened.colour' is not a field") for w in document["warnings"])
    assert [e[0] for e in events_of(folder, "c0007")] == ["replied", "opened"]
    with db(folder) as conn:  # `stop on replied where event.kind == "human"`: before the response
        assert conn.execute("SELECT status FROM enrollments WHERE contact = 'c0007'").fetchall() == [("ended",)]
        assert conn.execute("SELECT status FROM actions WHERE contact = 'c0007' AND kind = 'send'").fetchall() == [
            ("cancelled",)]


def test_events_endpoint_takes_json_lines_and_stores_unknown_contacts_as_unmatched(served):
    folder, base, _, _ = served
    body = (b'{"at": "2026-11-24T10:00:00Z", "type": "opened", "contact": "c0008", "step": "hello"}\n\n'
            b'{"at": "2026-11-24T10:00:00Z", "type": "opened", "contact": "nobody"}\n')
    answer = httpx.post(f"{base}/hooks/events", content=body,
                        headers={"authorization": f"Bearer {EVENTS_TOKEN}", "content-type": "application/x-ndjson"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["recorded"] == 2 and answer.json()["warnings"]
    again = httpx.post(f"{base}/hooks/events", content=body,  # the sender's retry: nothing twice
                       headers={"authorization": f"Bearer {EVENTS_TOKEN}", "content-type": "application/x-ndjson"})
    assert again.json()["recorded"] == 0 and again.json()["already_recorded"] == 2
    assert [e[0] for e in events_of(folder, "c0008")] == ["opened"]
    assert events_of(folder, "nobody") == [("opened", None, "{}", "done", "unknown_contact")]
    status = cli("status", "--format", "json", cwd=folder)  # unmatched: kept and reported
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["unknown_events"]["unknown_contact"] >= 1


def test_an_event_dated_in_the_future_waits_for_its_tick(served):
    folder, base, _, _ = served
    item = {"at": "2099-01-01T10:00:00Z", "type": "replied", "contact": "c0011", "kind": "human"}
    answer = httpx.post(f"{base}/hooks/events", json=item, headers={"authorization": f"Bearer {EVENTS_TOKEN}"})
    assert answer.status_code == 200
    assert [(e[0], e[3]) for e in events_of(folder, "c0011")] == [("replied", "pending")]
    with db(folder) as conn:
        assert conn.execute("SELECT status FROM enrollments WHERE contact = 'c0011'").fetchall() != [("ended",)]


def test_events_endpoint_refuses_oversized_and_malformed_bodies_with_a_reason(served):
    folder, base, _, _ = served
    auth = {"authorization": f"Bearer {EVENTS_TOKEN}"}
    before = all_events(folder)
    big = httpx.post(f"{base}/hooks/events", content=b"[" + b" " * 10_000 + b"]", headers=auth)
    assert big.status_code == 413 and "larger" in big.json()["error"]
    bad = httpx.post(f"{base}/hooks/events", content=b'{"at": ', headers=auth)
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]
    binary = httpx.post(f"{base}/hooks/events", content=b"\xff\xfe", headers=auth)
    assert binary.status_code == 400
    assert all_events(folder) == before


def test_metrics_count_hits_and_events_and_show_no_secret(served):
    folder, base, _, _ = served
    httpx.get(f"{base}/o/{tokens.make(SECRET, key_of(folder, 'c0009'), kind='open')}")
    text = httpx.get(f"{base}/metrics").text
    assert 'fsl_events_recorded_total{type="opened"}' in text
    assert 'fsl_http_requests_total{endpoint="open",status="200"}' in text
    assert "fsl_request_seconds_bucket" in text
    assert 'fsl_webhook_verifications_failed_total{endpoint="events"}' in text
    for secret in (SECRET, OLD_SECRET, EVENTS_TOKEN):
        assert secret not in text


def test_x_forwarded_for_is_ignored_unless_the_proxy_is_trusted(served):
    folder, base, _, log = served  # started without --forwarded-allow-ips
    httpx.get(f"{base}/o/{tokens.make(SECRET, key_of(folder, 'c0012'), kind='open')}",
              headers={"x-forwarded-for": "198.51.100.9"})
    deadline = time.monotonic() + 30
    while "open 200 from 127.0.0.1" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # the log line is written as the answer goes out
    assert "open 200 from 127.0.0.1" in log.read_text()
    assert "198.51.100.9" not in log.read_text()


def test_sigterm_finishes_and_exits_cleanly_and_the_log_holds_no_secret(served):
    folder, _, _, _ = served
    port = free_port()
    proc, log = start_server(folder, port, "--forwarded-allow-ips", "127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    httpx.get(f"{base}/c/{tokens.make(SECRET, key_of(folder, 'c0010'), 0)}",
              headers={"x-forwarded-for": "203.0.113.7"})
    httpx.post(f"{base}/hooks/events", json={}, headers={"authorization": "Bearer nope"})
    httpx.post(f"{base}/hooks/events", content=b"{", headers={"authorization": f"Bearer {EVENTS_TOKEN}"})
    assert stop(proc) == 0
    text = log.read_text()
    assert "click 302 from 203.0.113.7" in text  # the proxy (this test) is trusted
    assert "/c/" not in text  # no token in the log
    for secret in (SECRET, OLD_SECRET, EVENTS_TOKEN):
        assert secret not in text


def test_without_the_access_log_only_refused_requests_are_logged(served):
    folder, _, _, _ = served
    port = free_port()
    proc, log = start_server(folder, port, "--no-access-log")
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/c/{tokens.make(SECRET, key_of(folder, 'c0009'), 0)}").status_code == 302
    assert httpx.get(f"{base}/c/forged-token").status_code == 404
    assert stop(proc) == 0
    text = log.read_text()
    assert "click 404 from 127.0.0.1" in text and "click 302" not in text


def test_sigterm_lets_a_request_in_flight_finish(served):
    import threading

    folder, _, _, _ = served
    port = free_port()
    proc, _ = start_server(folder, port)
    base = f"http://127.0.0.1:{port}"
    started, release = threading.Event(), threading.Event()
    item = b'{"at": "2026-11-24T11:00:00Z", "type": "opened", "contact": "c0013", "step": "hello"}'

    def body():
        yield item[:20]
        started.set()
        release.wait(60)
        yield item[20:]

    answers: list = []
    sender = threading.Thread(target=lambda: answers.append(httpx.post(
        f"{base}/hooks/events", content=body(), timeout=60,
        headers={"authorization": f"Bearer {EVENTS_TOKEN}", "content-length": str(len(item))})))
    sender.start()
    assert started.wait(60)
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # shutting down: no new connections
        try:
            httpx.get(f"{base}/healthz", timeout=2)
        except httpx.TransportError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("fsl serve kept accepting connections after SIGTERM")
    release.set()
    sender.join(60)
    assert answers and answers[0].status_code == 200 and answers[0].json()["recorded"] == 1
    assert proc.wait(timeout=60) == 0
    assert [e[0] for e in events_of(folder, "c0013")] == ["opened"]
