"""Tracked email end to end (SIGNALS.md 1): a real SMTP server, a real `fsl serve` process.

A tick hands `hello` to aiosmtpd on loopback with `tracking: on`; the test
parses what arrived, checks its structure (multipart/alternative, wrapped
links, pixel, trap, List-Unsubscribe) and follows its links over HTTP: a
click lands on exactly the URL the message carried, and each hit is judged
human or machine.  Each test uses its own contact (its own message).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from .smtp_sink import SmtpSink, free_port
from .test_ops_support import T0, make_project, runtime
from .test_serve import SERVER, _env, start_server, stop

PRICING = "https://acme.example/pricing?plan=pro&utm_source=fsl#compare"
BROWSER = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/131.0.0.0 Safari/537.36"}

HELLO = f"""\
---
subject: "Hello {{{{ contact.first_name }}}}"
links:
  pricing: "{PRICING}"
---
Hi {{{{ contact.first_name }}}}, see {{{{ links.pricing }}}} and
[your page](https://app.acme.example/welcome?who={{{{ contact.id }}}}&ref=mail).

To stop these emails: {{{{ unsubscribe_url }}}}
"""

NAMES = {"c0001": "Ada", "c0002": "Bo", "c0003": "Cy", "c0004": "Di", "c0005": "Eve\r\nBcc: evil@attacker.example",
         "c0006": "Fay", "c0007": "Gus", "c0008": "Hal", "c0009": "Ida", "c0010": "Jo", "c0011": "Kim"}


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.anchors.append(dict(attrs))
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")


def _parts(msg):
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    parser = _Anchors()
    parser.feed(html)
    return text, html, parser


@pytest.fixture(scope="module")
def sent(tmp_path_factory):
    from fsl.engine.model import Contact, Event
    from fsl.runtime.deploy import deploy

    folder = tmp_path_factory.mktemp("tracked")
    with SmtpSink() as sink:
        config = make_project(folder, port=sink.port)
        text = config.read_text().replace("timeout: 5,", "timeout: 5, tracking: on, reply_to: replies@acme.example,")
        port = free_port()
        config.write_text(text + SERVER.format(port=port))
        (folder / "templates" / "hello.md").write_text(HELLO)
        os.environ.update(_env())
        try:
            rt = runtime(config)
            try:
                deploy(rt, [], now=T0)
                people = [Contact(cid, {"id": cid, "email": f"{cid}@example.com", "first_name": name})
                          for cid, name in NAMES.items()]
                rt.put_contacts(people, now=T0)
                rt.record_events([Event(T0, "signed_up", c.id) for c in people])
                rt.tick(T0 + timedelta(minutes=1))
            finally:
                rt.close()
        finally:
            for name in ("FSL_SERVER_SECRET", "FSL_OLD_SECRET", "FSL_EVENTS_TOKEN"):
                os.environ.pop(name, None)
        received = {r.rcpt_tos[0].split("@")[0]: r for r in sink.messages}
    proc, log = start_server(folder, port)
    yield folder, f"http://127.0.0.1:{port}", received
    if proc.poll() is None:
        stop(proc)


def _db(folder: Path) -> sqlite3.Connection:
    return sqlite3.connect(folder / "fsl.db")


def _events(folder: Path, contact: str) -> list[tuple]:
    with _db(folder) as conn:
        rows = conn.execute("SELECT type, fields, source, evidence FROM events WHERE contact = ? "
                            "AND type IN ('clicked', 'opened') ORDER BY id", (contact,)).fetchall()
    return [(t, json.loads(f), s, json.loads(e or "[]")) for t, f, s, e in rows]


def _long_ago(folder: Path, contact: str) -> None:
    """The message was handed over an hour ago (as if the person read it later)."""
    with _db(folder) as conn:
        key = conn.execute("SELECT key FROM actions WHERE contact = ? AND step = 'hello'", (contact,)).fetchone()[0]
        conn.execute("UPDATE tracked_messages SET handed_at_ms = handed_at_ms - 3600000 WHERE key = ?", (key,))


def _real_links(parser: _Anchors) -> list[str]:
    return [a["href"] for a in parser.anchors if a.get("aria-hidden") != "true" and "/c/" in a.get("href", "")]


def test_the_email_is_multipart_with_wrapped_links_pixel_trap_and_one_click_unsubscribe(sent):
    folder, base, received = sent
    msg = received["c0001"].message
    assert msg.get_content_type() == "multipart/alternative"
    text, html, parser = _parts(msg)
    assert PRICING not in text and "app.acme.example" not in text  # every link of the text part wrapped
    assert text.count(f"{base}/c/") == 2
    hrefs = [a["href"] for a in parser.anchors]
    assert all(h.startswith(f"{base}/c/") or h.startswith(f"{base}/u/") for h in hrefs)
    assert [h for h in hrefs if h.startswith(f"{base}/u/")] == [h for h in hrefs if "/u/" in h][:1]
    trap = [a for a in parser.anchors if a.get("aria-hidden") == "true"]
    assert len(trap) == 1 and "display:none" in trap[0]["style"] and hrefs[0] == trap[0]["href"]  # first thing
    assert len(parser.images) == 1 and parser.images[0].startswith(f"{base}/o/")
    unsubscribe = msg["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{base}/u/") and "<mailto:replies@acme.example" in unsubscribe
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # {{ unsubscribe_url }}: the /u/ URL itself, in both parts, never wrapped
    u_url = unsubscribe.split(">")[0][1:]
    assert u_url in text and u_url in hrefs
    assert "c0001" not in unsubscribe and "example.com" not in "".join(hrefs)  # no contact data in clear


def _earlier_hits(folder: Path, contact: str, seconds: int) -> None:
    """The message's hits so far happened `seconds` earlier (as if the person paused)."""
    with _db(folder) as conn:
        key = conn.execute("SELECT key FROM actions WHERE contact = ? AND step = 'hello'", (contact,)).fetchone()[0]
        conn.execute("UPDATE tracking_hits SET at_ms = at_ms - ? WHERE key = ?", (seconds * 1000, key))


def test_each_link_redirects_to_exactly_the_url_in_the_message(sent):
    folder, base, received = sent
    _long_ago(folder, "c0002")
    _, _, parser = _parts(received["c0002"].message)
    first, second = _real_links(parser)
    locations = [httpx.get(first, headers=BROWSER).headers["location"]]
    _earlier_hits(folder, "c0002", 60)  # the person reads on for a minute
    locations.append(httpx.get(second, headers=BROWSER).headers["location"])
    # the second URL is not among the template's links and carries the contact's id: still exact
    assert locations == [PRICING, "https://app.acme.example/welcome?who=c0002&ref=mail"]
    events = _events(folder, "c0002")
    assert [(t, f.get("link"), f["machine"], s) for t, f, s, _ in events] == [
        ("clicked", "pricing", False, "tracking"), ("clicked", None, False, "tracking")]
    assert any("after hand-over" in e for e in events[0][3])


def test_a_burst_over_every_link_makes_all_of_it_machine(sent):
    folder, base, received = sent
    _long_ago(folder, "c0008")
    _, _, parser = _parts(received["c0008"].message)
    for link in _real_links(parser):
        assert httpx.get(link, headers=BROWSER).status_code == 302
    first, second = _events(folder, "c0008")
    assert second[1]["machine"] is True and any("2 of the message's 2 links" in e for e in second[3])
    # the first looked like a person's when it came; the burst it began is a scanner's
    assert first[1]["machine"] is True and "part of a burst over the message's links" in first[3]


def test_a_forged_link_index_redirects_nowhere(sent):
    from fsl.signals import tokens

    folder, base, _ = sent
    with _db(folder) as conn:
        key = conn.execute("SELECT key FROM actions WHERE contact = 'c0003' AND step = 'hello'").fetchone()[0]
    assert httpx.get(f"{base}/c/{tokens.make('nope-' * 8, key, 0)}").status_code == 404  # not our signature
    far = httpx.get(f"{base}/c/{tokens.make(_env()['FSL_SERVER_SECRET'], key, 40)}", headers=BROWSER)
    assert far.status_code == 404 and "location" not in far.headers


def test_the_trap_answers_an_empty_page_and_makes_hits_around_it_machine(sent):
    folder, base, received = sent
    _long_ago(folder, "c0004")
    _, _, parser = _parts(received["c0004"].message)
    trap = next(a["href"] for a in parser.anchors if a.get("aria-hidden") == "true")
    answer = httpx.get(trap, headers=BROWSER)
    assert answer.status_code == 200 and answer.content == b""
    assert _events(folder, "c0004") == []  # the trap itself is no engagement
    click = httpx.get(_real_links(parser)[0], headers=BROWSER)
    assert click.status_code == 302
    (event,) = _events(folder, "c0004")
    assert event[1]["machine"] is True and any("trap link" in e for e in event[3])


def test_a_trap_hit_condemns_the_hits_just_before_it(sent):
    folder, base, received = sent
    _long_ago(folder, "c0009")
    _, _, parser = _parts(received["c0009"].message)
    httpx.get(parser.images[0], headers=BROWSER)
    assert _events(folder, "c0009")[0][1]["machine"] is False
    trap = next(a["href"] for a in parser.anchors if a.get("aria-hidden") == "true")
    httpx.get(trap, headers=BROWSER)
    (opened,) = _events(folder, "c0009")
    assert opened[1]["machine"] is True and "a hit on the hidden trap link came just after" in opened[3]
    assert "no machine evidence" not in opened[3]


def test_hits_right_after_hand_over_and_from_scanners_are_machine(sent):
    folder, base, received = sent
    _, _, parser = _parts(received["c0006"].message)
    httpx.get(parser.images[0], headers=BROWSER)  # within 30 s of the hand-over
    opened = _events(folder, "c0006")[0]
    assert opened[0] == "opened" and opened[1]["machine"] is True and any("after hand-over" in e for e in opened[3])
    _long_ago(folder, "c0007")
    _, _, parser = _parts(received["c0007"].message)
    httpx.get(_real_links(parser)[0], headers={"user-agent": "Mozilla/5.0 (compatible; BarracudaCentral)"})
    gmail = {"user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"}
    httpx.get(parser.images[0], headers=gmail)
    scanner, person = _events(folder, "c0007")
    assert scanner[1]["machine"] is True and any("Barracuda" in e for e in scanner[3])
    assert person[1]["machine"] is False and any("Gmail image proxy" in e for e in person[3])


def test_contact_data_cannot_inject_headers(sent):
    _, _, received = sent
    got = received["c0005"]
    assert got.rcpt_tos == ["c0005@example.com"]
    headers = got.raw.split(b"\r\n\r\n", 1)[0]
    assert got.message["Bcc"] is None and b"\nBcc:" not in headers  # (the body may say what it likes)
    assert got.message["Subject"] == "Hello Eve Bcc: evil@attacker.example"  # one line, folded whitespace


def test_explain_shows_source_and_evidence(sent):
    folder, base, _ = sent
    from .test_ops_support import cli

    deadline = time.monotonic() + 30
    while not _events(folder, "c0002") and time.monotonic() < deadline:
        time.sleep(0.05)  # another test's clicks (module order); polled, never assumed
    os.environ.update(_env())
    try:
        result = cli("explain", "c0002", "--format", "json", cwd=folder)
    finally:
        for name in ("FSL_SERVER_SECRET", "FSL_OLD_SECRET", "FSL_EVENTS_TOKEN"):
            os.environ.pop(name, None)
    assert result.exit_code == 0, result.output
    assert '"source": "tracking"' in result.output or '"source":"tracking"' in result.output
    assert "after hand-over" in result.output


def test_a_header_value_with_a_line_break_is_refused_never_sent():
    """The last line of defence: the email is built by EmailMessage under its default policy."""
    from fsl.config import Channel
    from fsl.channel_settings import SmtpSettings
    from fsl.delivery.channels.smtp import SmtpAdapter
    from fsl.delivery.message import OutMessage

    settings = SmtpSettings.model_validate({"from": "Acme <hello@acme.example>"})
    adapter = SmtpAdapter(Channel(name="email", adapter="smtp", settings=settings))
    msg = OutMessage("1:s:0:0", "email", "send", "a@example.com", "Hi", "text",
                     headers={"List-Unsubscribe": "<https://t.example/u/x>\r\nBcc: evil@attacker.example"})
    result = adapter.deliver(msg)
    assert result.status == "failed" and "cannot build the email" in result.detail


def test_unsubscribe_url_needs_a_tracking_channel(tmp_path):
    from .test_ops_support import cli

    make_project(tmp_path)
    (tmp_path / "templates" / "hello.md").write_text(HELLO)
    result = cli("check", cwd=tmp_path)
    assert result.exit_code != 0 and "E210" in result.output and "unsubscribe_url" in result.output
    assert "tracking: on" in result.output
    config = tmp_path / "fsl.yaml"
    config.write_text(config.read_text().replace("timeout: 5,", "timeout: 5, tracking: on,")
                      + "server:\n  base_url: https://t.acme.example\n")
    result = cli("check", cwd=tmp_path)
    assert result.exit_code == 0, result.output


def test_tracking_without_a_server_address_is_a_config_error(tmp_path):
    from .test_ops_support import cli

    config = make_project(tmp_path)
    config.write_text(config.read_text().replace("timeout: 5,", "timeout: 5, tracking: on,"))
    result = cli("check", cwd=tmp_path)
    assert result.exit_code != 0
    assert "fsl.yaml:" in result.output and "`tracking: on`, but `server.base_url` is not set" in result.output


def test_sends_of_a_tracking_channel_wait_while_the_secret_is_unset(tmp_path):
    """Never untracked (without its unsubscribe link): retried, with the reason."""
    from fsl.engine.model import Contact, Event
    from fsl.runtime.deploy import deploy

    with SmtpSink() as sink:
        config = make_project(tmp_path, port=sink.port)
        text = config.read_text().replace("timeout: 5,", "timeout: 5, tracking: on,")
        config.write_text(text + "server:\n  base_url: https://t.acme.example\n  secret: ${FSL_UNSET_SECRET_X}\n")
        rt = runtime(config)
        try:
            deploy(rt, [], now=T0)
            rt.put_contacts([Contact("c1", {"id": "c1", "email": "c1@example.com", "first_name": "Al"})], now=T0)
            rt.record_events([Event(T0, "signed_up", "c1")])
            rt.tick(T0 + timedelta(minutes=1))
        finally:
            rt.close()
        assert sink.messages == []
    with _db(tmp_path) as conn:
        status, error = conn.execute("SELECT status, last_error FROM actions WHERE contact = 'c1'").fetchone()
    assert status == "pending" and "server.secret" in error


def test_fsl_render_shows_the_unsubscribe_url(sent):
    from .test_ops_support import cli

    folder, base, _ = sent
    os.environ.update(_env())
    try:
        result = cli("render", "welcome", "hello", "--contact", "c0003", "--format", "json", cwd=folder)
    finally:
        for name in ("FSL_SERVER_SECRET", "FSL_OLD_SECRET", "FSL_EVENTS_TOKEN"):
            os.environ.pop(name, None)
    send = json.loads(result.output)["messages"][0]
    assert f"To stop these emails: {base}/u/" in send["body"]
    # the guards judge the template's links (this one names a URL it does not declare), never ours
    (links,) = [v for v in send["verdicts"] if v["guard"] == "links"]
    assert "app.acme.example" in links["reason"] and "/u/" not in links["reason"]


def test_serve_refuses_a_lists_file_with_a_mistake_at_its_line(tmp_path):
    from .test_ops_support import cli

    config = make_project(tmp_path)
    config.write_text(config.read_text() + "server:\n  base_url: https://t.acme.example\n"
                      "  secret: serve-lists-secret-0123456789\n  machine:\n    lists: machines.yaml\n")
    (tmp_path / "machines.yaml").write_text("user_agents:\n  - name: x\n    kind: robot\n    contains: [x]\n")
    result = cli("serve", "--listen", f"127.0.0.1:{free_port()}", cwd=tmp_path)
    assert result.exit_code != 0
    assert "machines.yaml:3:" in result.output and "kind" in result.output


def test_the_network_is_the_forwarded_one_only_behind_a_trusted_proxy(sent):
    folder, base, received = sent
    apple = {**BROWSER, "x-forwarded-for": "17.58.1.2"}  # Apple's network, a browser's User-Agent
    for contact in ("c0010", "c0011"):
        _long_ago(folder, contact)
    untrusted = _parts(received["c0010"].message)[2].images[0]
    httpx.get(untrusted, headers=apple)  # the first server trusts no proxy: the peer is 127.0.0.1
    port = free_port()
    proc, _ = start_server(folder, port, "--forwarded-allow-ips", "127.0.0.1")
    try:
        trusted = _parts(received["c0011"].message)[2].images[0].replace(base, f"http://127.0.0.1:{port}")
        httpx.get(trusted, headers=apple)
    finally:
        stop(proc)
    assert _events(folder, "c0010")[0][1]["machine"] is False
    (opened,) = _events(folder, "c0011")
    assert opened[1]["machine"] is True and "network 17.0.0.0/8 of Apple Mail Privacy Protection" in opened[3]
