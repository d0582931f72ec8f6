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
from .test_ops_support import cli, fsl_process, make_project, runtime

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


@pytest.fixture
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


def _project(servers, tmp_path, people: dict[str, str], folder: str = "INBOX") -> Path:
    """A project whose contacts `people` (id -> user) got the `hello` message through Postfix."""
    dovecot, postfix = servers
    config = make_project(tmp_path)
    config.write_text(CONFIG.format(smtp=postfix.port, imap=dovecot.port).replace("folder: INBOX", f"folder: {folder}"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    rt = runtime(config)
    try:
        from fsl.runtime.deploy import deploy

        deploy(rt, [], now=now)
        rt.put_contacts([Contact(c, {"id": c, "email": f"{u}@{DOMAIN}", "first_name": u.title()})
                         for c, u in people.items()], now=now)
        rt.record_events([Event(now, "signed_up", c) for c in people])
        report = rt.tick(now)
        assert report.delivered == len(people), report
    finally:
        rt.close()
    return config


def _reply(postfix: Postfix, user: str, enrollment: int, text: str = "Thanks, happy to talk on Tuesday.") -> None:
    """`user` answers our message as a mail client does: In-Reply-To our Message-ID, our text quoted."""
    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = f"{user} <{user}@{DOMAIN}>", f"replies@{DOMAIN}", "Re: Hello"
    reply["Date"] = format_datetime(datetime.now(timezone.utc))
    reply["Message-ID"] = f"<{user}-{time.monotonic_ns()}@{DOMAIN}>"
    reply["In-Reply-To"] = message_id(f"{enrollment}:hello:0:0", DOMAIN)
    reply.set_content(f"{text}\n\nOn Mon, Acme wrote:\n> Hi, welcome aboard.\n> Unsubscribe: https://t.example/u\n")
    with smtplib.SMTP("127.0.0.1", postfix.port, timeout=10) as smtp:
        smtp.send_message(reply, from_addr=f"{user}@{DOMAIN}", to_addrs=[f"replies@{DOMAIN}"])


def test_a_real_reply_stops_a_vacation_reply_pauses_and_a_postfix_dsn_bounces(servers, tmp_path, monkeypatch):
    dovecot, postfix = servers
    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", PASSWORD)
    config = _project(servers, tmp_path, {"c1": "ana", "c2": "bob", "c3": "nobody"})
    _wait_for(dovecot, 2, postfix)  # ana's vacation reply and Postfix's DSN for nobody@
    _reply(postfix, "bob", 2)
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


def _status(config: Path, contact: str) -> str:
    return json.loads(cli("explain", contact, "--format", "json", "--config", str(config)).output)["enrollments"][0]["status"]


def test_fsl_inbox_keeps_reading_in_idle_and_stops_on_sigterm(servers, tmp_path, monkeypatch):
    dovecot, postfix = servers
    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", PASSWORD)
    config = _project(servers, tmp_path, {"c1": "bob"})
    proc = fsl_process("inbox", "--config", str(config), cwd=tmp_path)
    try:
        first = proc.stdout.readline()  # the first pass is done: the reader now waits in IDLE
        assert first.startswith("inbox: read 0"), first + proc.stderr.read() if proc.poll() is not None else first
        _reply(postfix, "bob", 1)
        end = time.monotonic() + 60  # a safety net: the reply is read as soon as IDLE reports it
        while _status(config, "c1") != "ended" and time.monotonic() < end:
            time.sleep(0.05)
        assert _status(config, "c1") == "ended"
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "inbox: read 1 (human 1)" in out


def test_processed_mail_can_be_moved_to_a_folder_and_is_never_deleted(servers, tmp_path, monkeypatch):
    dovecot, postfix = servers
    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", PASSWORD)
    config = _project(servers, tmp_path, {"c1": "bob"})
    config.write_text(config.read_text() + "  processed_folder: fsl-processed\n")
    _reply(postfix, "bob", 1)
    _wait_for(dovecot, 1, postfix)
    result = json.loads(cli("inbox", "--once", "--format", "json", "--config", str(config)).stdout)
    assert result["read"] == 1 and _status(config, "c1") == "ended"
    client = _imap(dovecot)
    try:
        assert client.select_folder("INBOX", readonly=True)[b"EXISTS"] == 0
        assert client.select_folder("fsl-processed", readonly=True)[b"EXISTS"] == 1
        (flags,) = client.get_flags(client.search(["ALL"])).values()
    finally:
        client.logout()
    assert b"$FslProcessed" in flags and b"\\Seen" not in flags


def test_a_server_that_refuses_connections_is_reported_and_the_worker_tick_goes_on(tmp_path, monkeypatch):
    from .mailservers import free_port

    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", PASSWORD)
    config = make_project(tmp_path)
    config.write_text(CONFIG.format(smtp=9, imap=free_port()))
    result = cli("worker", "--run-now", "--max-ticks", "1", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "worker: inbox: IMAP 127.0.0.1" in result.stderr and "trying again at the next tick" in result.stderr
    assert "stopped after 1 tick(s)" in result.stderr


@pytest.fixture
def tls_dovecot():
    root = Path(tempfile.mkdtemp(prefix="fsl-mail-tls-"))
    dovecot = Dovecot(root, ["replies"], DOMAIN, tls=True).start()
    try:
        yield dovecot
    finally:
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("tls", ["on", "starttls"])
def test_tls_and_starttls_with_a_private_ca(tls_dovecot, tmp_path, monkeypatch, tls):
    from fsl.inbox.reader import InboxError, Reader
    from fsl.inbox_settings import InboxSettings

    port = tls_dovecot.imaps_port if tls == "on" else tls_dovecot.port
    settings = InboxSettings(host="127.0.0.1", port=port, tls=tls, ca_file=tls_dovecot.ca_file,
                             username="replies", password=PASSWORD)
    stranger = b"From: someone@elsewhere.example\r\nSubject: hi\r\nMessage-ID: <s@x>\r\n\r\nhello\r\n"
    client = _imap(tls_dovecot)
    client.append("INBOX", stranger)
    client.logout()
    config = make_project(tmp_path)
    rt = runtime(config)
    try:
        reader = Reader(rt, settings)
        report = reader.read_once()
        reader.close()
        assert (report.read, report.unmatched) == (1, 1)
        untrusted = Reader(rt, settings.model_copy(update={"ca_file": None}))
        with pytest.raises(InboxError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            untrusted.read_once()
    finally:
        rt.close()


def test_the_worker_reads_the_inbox_after_its_tick(servers, tmp_path, monkeypatch):
    dovecot, postfix = servers
    monkeypatch.setenv("FSL_TEST_INBOX_PASSWORD", PASSWORD)
    config = _project(servers, tmp_path, {"c1": "bob"})
    _reply(postfix, "bob", 1, "Please remove me from your list.")
    _wait_for(dovecot, 1, postfix)
    result = cli("worker", "--run-now", "--max-ticks", "1", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "worker: inbox: read 1 (unsubscribe_request 1), 0 unmatched" in result.stdout
    explained = json.loads(cli("explain", "c1", "--format", "json", "--config", str(config)).output)
    assert explained["enrollments"][0]["status"] == "ended"
    assert [e["type"] for e in explained["events"] if e["source"] == "inbox"] == ["replied", "unsubscribed"]


def test_mail_announced_during_a_read_does_not_wait_for_the_idle_timeout(servers, tmp_path):
    # A message that arrives while a read runs is announced (EXISTS) to one of that read's
    # commands, which imapclient sets aside; IDLE then has nothing new to tell, and the
    # reader used to sit out its whole timeout before reading it.
    import threading

    from fsl.inbox.reader import Reader
    from fsl.inbox_settings import InboxSettings

    dovecot, _ = servers
    settings = InboxSettings(host="127.0.0.1", port=dovecot.port, tls="off", username="replies", password=PASSWORD)
    rt = runtime(make_project(tmp_path))
    reader = Reader(rt, settings)
    try:
        reader.read_once()
        writer = _imap(dovecot)
        writer.append("INBOX", b"From: someone@elsewhere.example\r\nSubject: hi\r\nMessage-ID: <late@x>\r\n\r\nhi\r\n")
        writer.logout()
        assert reader.client is not None
        reader.client.noop()  # the announcement reaches the reader's connection now, as during a read
        waited = threading.Thread(target=reader.wait, args=(600.0, lambda: False), daemon=True)
        waited.start()
        waited.join(timeout=120)  # a safety net: the wait ends at once, the mail being there
        assert not waited.is_alive()
        assert reader.read_once().read == 1
    finally:
        reader.close()
        rt.close()
