"""End to end through real mail servers (SIGNALS.md 3): FSL sends through Postfix; Dovecot's
Sieve `vacation` answers one contact, Postfix bounces an unknown one with its own DSN, and a
person replies; `fsl inbox --once` reads the reply mailbox over IMAP and the enrollments stop,
pause and bounce.  The servers are Debian's postfix, dovecot-imapd and dovecot-sieve, started by
tests/mailservers.py in a temporary folder on free ports, without systemd (root only)."""
from __future__ import annotations

import json
import shutil
import smtplib
import tempfile
import time
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from imapclient import IMAPClient

from fsl.delivery.message import message_id
from fsl.engine.model import Contact, Event
from fsl.store.schema import inbox_state, suppressions

from .mailservers import PASSWORD, Dovecot, Postfix, available
from .test_ops_support import cli, make_project, runtime

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

DOMAIN = "mail.test"
CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
events:
  signed_up: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: {smtp}, from: "Acme <hello@mail.test>",
           reply_to: "replies@mail.test", timeout: 10}}
inbox:
  host: 127.0.0.1
  port: {imap}
  tls: off
  username: replies
  password: ${{FSL_TEST_INBOX_PASSWORD}}
  folder: INBOX
"""


@pytest.fixture(scope="module")
def servers():
    root = Path(tempfile.mkdtemp(prefix="fsl-mail-"))
    dovecot = Dovecot(root, ["replies", "ana", "bob"], DOMAIN).start()
    dovecot.vacation("ana", "I am out of the office until Monday, December 14, 2026. I will answer then.")
    postfix = Postfix(root, dovecot)
    try:
        postfix.start()
        yield dovecot, postfix
    finally:
        postfix.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


def _imap(dovecot: Dovecot, user: str = "replies") -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=10)
    client.login(user, PASSWORD)
    return client


def _wait_for(dovecot: Dovecot, count: int, postfix: Postfix) -> None:
    """Until the reply mailbox holds `count` messages (the deadline is a safety net)."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        client = _imap(dovecot)
        try:
            if client.select_folder("INBOX", readonly=True)[b"EXISTS"] >= count:
                return
        finally:
            client.logout()
        time.sleep(0.1)
    raise AssertionError(f"the mailbox never got {count} messages\n{postfix.log()[-3000:]}\n{dovecot.log()[-2000:]}")


def test_a_real_reply_stops_a_vacation_reply_pauses_and_a_postfix_dsn_bounces(servers, tmp_path, monkeypatch):
    dovecot, postfix = servers
    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", PASSWORD)
    config = make_project(tmp_path)
    config.write_text(CONFIG.format(smtp=postfix.port, imap=dovecot.port))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    people = {"c1": "ana", "c2": "bob", "c3": "nobody"}
    rt = runtime(config)
    try:
        from fsl.runtime.deploy import deploy

        deploy(rt, [], now=now)
        rt.put_contacts([Contact(c, {"id": c, "email": f"{u}@{DOMAIN}", "first_name": u.title()})
                         for c, u in people.items()], now=now)
        rt.record_events([Event(now, "signed_up", c) for c in people])
        report = rt.tick(now)
        assert report.delivered == 3, report
    finally:
        rt.close()
    _wait_for(dovecot, 2, postfix)  # ana's vacation reply and Postfix's DSN for nobody@
    # Bob answers our message as a mail client does: In-Reply-To our Message-ID
    ours = message_id("2:hello:0:0", DOMAIN)
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = f"Bob <bob@{DOMAIN}>", f"replies@{DOMAIN}", "Re: Hello Bob"
    reply["Date"], reply["Message-ID"], reply["In-Reply-To"] = format_datetime(now), f"<bob-1@{DOMAIN}>", ours
    reply.set_content("Thanks, happy to talk on Tuesday.\n\nOn Mon, Acme wrote:\n> Hi Bob, welcome aboard.\n")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=10) as smtp:
        smtp.send_message(reply, from_addr=f"bob@{DOMAIN}", to_addrs=[f"replies@{DOMAIN}"])
    _wait_for(dovecot, 3, postfix)

    result = cli("inbox", "--once", "--format", "json", "--config", str(config))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["read"], report["matched"], report["unmatched"]) == (3, 3, 0), report
    assert report["labels"] == {"out_of_office": 1, "bounced/hard": 1, "human": 1}

    def enrollment(contact: str) -> dict:
        return json.loads(cli("explain", contact, "--format", "json", "--config", str(config)).output)

    ana, bob = enrollment("c1"), enrollment("c2")
    assert ana["enrollments"][0]["status"] == "paused"
    (away,) = [e for e in ana["events"] if e["type"] == "replied"]
    assert away["fields"] == {"kind": "out_of_office", "return_date": "2026-12-14"} and away["source"] == "inbox"
    assert any(e.startswith("Auto-Submitted") for e in away["evidence"])
    assert bob["enrollments"][0]["status"] == "ended"
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            assert [r[0] for r in conn.execute(sa.select(suppressions.c.address))] == [f"nobody@{DOMAIN}"]
    finally:
        rt.close()

    # every message is marked, none is read for the person who reads this mailbox, none deleted
    client = _imap(dovecot)
    try:
        client.select_folder("INBOX", readonly=True)
        flags = client.get_flags(client.search(["ALL"]))
    finally:
        client.logout()
    assert len(flags) == 3
    assert all(b"$FslProcessed" in f and b"\\Seen" not in f for f in flags.values()), flags

    # nothing new on a second read; and a forgotten UID (as after a UIDVALIDITY change) records nothing twice
    again = json.loads(cli("inbox", "--once", "--format", "json", "--config", str(config)).stdout)
    assert again["read"] == 0
    rt = runtime(config)
    try:
        with rt.db.write() as conn:
            conn.execute(sa.delete(inbox_state))
    finally:
        rt.close()
    reread = json.loads(cli("inbox", "--once", "--format", "json", "--config", str(config)).stdout)
    assert reread["read"] == 3
    assert len([e for e in enrollment("c2")["events"] if e["type"] == "replied"]) == 1


def test_a_refused_login_is_reported_without_the_password(servers, tmp_path, monkeypatch):
    dovecot, postfix = servers
    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", "wrong-password-123")
    config = make_project(tmp_path)
    config.write_text(CONFIG.format(smtp=postfix.port, imap=dovecot.port))
    result = cli("inbox", "--once", "--config", str(config))
    assert result.exit_code == 1
    assert "IMAP 127.0.0.1" in result.stderr and "wrong-password-123" not in result.output + result.stderr
