"""Inbound-parse webhooks end to end (SIGNALS.md 3, fed by HTTP): a real `fsl serve` process
takes received mail as SendGrid Inbound Parse (raw MIME and parsed fields), Mailgun routes
(`body-mime`, signed) and Postmark inbound (JSON, with and without RawEmail) post it, and it is
classified, matched and recorded as the IMAP inbox would.  The messages answered were really
sent: a tick delivers the `welcome` playbook's `hello` to a real SMTP server (aiosmtpd)."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from email.message import EmailMessage

import httpx
import pytest

from .smtp_sink import SmtpSink, free_port
from .test_ops_support import cli, make_project
from .test_serve import db, populate_and_tick, stop
from .test_serve_webhooks import start

SECRET = "inbound-test-secret-0123456789abcdef"
MG_KEY = "mailgun-signing-key-for-inbound-tests"
USER, PASSWORD = "fsl", "inbound-password-for-tests"
CONFIG = """
server:
  base_url: http://127.0.0.1:{port}
  listen: 127.0.0.1:{port}
  secret: ${{FSL_SERVER_SECRET}}
webhooks:
  mailgun: {{signing_key: "${{MG_KEY}}"}}
  inbound: {{username: fsl, password: "${{INBOUND_PASSWORD}}", max_bytes: 300000}}
"""


class Served:
    def __init__(self, folder, base: str) -> None:
        self.folder, self.base = folder, base

    def post(self, provider: str, *, auth: tuple[str, str] | None = (USER, PASSWORD), **kwargs) -> httpx.Response:
        return httpx.post(f"{self.base}/hooks/inbound/{provider}", auth=auth, timeout=30, **kwargs)

    def ours(self, contact: str) -> str:
        with contextlib.closing(db(self.folder)) as conn:
            return conn.execute("SELECT message_id FROM actions WHERE contact = ? AND step = 'hello'",
                                (contact,)).fetchone()[0]

    def enrollment(self, contact: str) -> str:
        with contextlib.closing(db(self.folder)) as conn:
            return conn.execute("SELECT status FROM enrollments WHERE contact = ?", (contact,)).fetchone()[0]

    def events(self, contact: str, kind: str) -> list[dict]:
        with contextlib.closing(db(self.folder)) as conn:
            rows = conn.execute("SELECT fields, source, evidence FROM events WHERE contact = ? AND type = ?",
                                (contact, kind)).fetchall()
        return [{"fields": json.loads(f), "source": s, "evidence": json.loads(e or "[]")} for f, s, e in rows]

    def suppressed(self, address: str) -> bool:
        with contextlib.closing(db(self.folder)) as conn:
            return conn.execute("SELECT 1 FROM suppressions WHERE address = ?", (address,)).fetchone() is not None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inbound")
    env = dict(os.environ, FSL_SERVER_SECRET=SECRET, MG_KEY=MG_KEY, INBOUND_PASSWORD=PASSWORD)
    env.pop("FSL_STORE", None)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(SmtpSink())
        config = make_project(folder, port=sink.port)
        port = free_port()
        with open(config, "a") as f:
            f.write(CONFIG.format(port=port))
        # every `hello` handed to the SMTP server
        populate_and_tick(config, 10, {"FSL_SERVER_SECRET": SECRET, "MG_KEY": MG_KEY, "INBOUND_PASSWORD": PASSWORD},
                          deliver=True)
        proc = start(folder, port, env)
        stack.callback(lambda: stop(proc) if proc.poll() is None else None)
        yield Served(folder, f"http://127.0.0.1:{port}")


def reply(sender: str, subject: str, body: str, *, in_reply_to: str | None = None, mid: str,
          headers: dict | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, "hello@acme.example", subject
    m["Date"], m["Message-ID"] = "Mon, 23 Nov 2026 16:00:00 +0000", mid
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    return m


def mailgun_signed(fields: dict, *, key: str = MG_KEY, at: float | None = None) -> dict:
    stamp, token = str(int(at if at is not None else time.time())), secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {**fields, "timestamp": stamp, "token": token, "signature": signature}


def test_sendgrid_raw_mime_stops_the_enrollment_once_and_needs_the_credentials(served):
    raw = reply("user1@example.com", "Re: Hello User1", "Yes, let's talk.", in_reply_to=served.ours("c0001"),
                mid="<sg-1@client.example>").as_bytes()
    for auth in (None, (USER, "wrong-password")):
        refused = served.post("sendgrid", auth=auth, files={"email": (None, raw)})
        assert refused.status_code == 401
    assert served.enrollment("c0001") == "active"
    first = served.post("sendgrid", files={"email": (None, raw), "to": (None, "hello@acme.example")})
    assert first.status_code == 200, first.text
    assert first.json() | {"problems": []} == {"label": "human", "matched": True, "recorded": 1, "already_recorded": 0,
                                               "rebuilt": False, "problems": []}
    assert served.enrollment("c0001") == "ended"
    again = served.post("sendgrid", files={"email": (None, raw)})  # SendGrid's retry
    assert again.json()["recorded"] == 0 and again.json()["already_recorded"] == 1
    (event,) = served.events("c0001", "replied")
    assert event["source"] == "inbox" and event["fields"]["kind"] == "human"


def test_sendgrid_parsed_fields_an_out_of_office_pauses_with_its_return_date(served):
    headers = (f"From: user2@example.com\r\nTo: hello@acme.example\r\nSubject: Automatic reply: Hello User2\r\n"
               f"Message-ID: <sg-2@client.example>\r\nIn-Reply-To: {served.ours('c0002')}\r\n"
               "Date: Mon, 23 Nov 2026 16:00:00 +0000\r\nAuto-Submitted: auto-replied\r\n"
               "Content-Type: multipart/alternative; boundary=x\r\n")
    answer = served.post("sendgrid", data={"headers": headers, "charsets": json.dumps({"text": "utf-8"}),
                                           "text": "I am out of the office until Monday, November 30, 2026."})
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == "out_of_office" and answer.json()["rebuilt"] is True
    assert served.enrollment("c0002") == "paused"
    (event,) = served.events("c0002", "replied")
    assert event["fields"]["return_date"] == "2026-11-30"


def test_mailgun_body_mime_is_verified_and_a_bounce_suppresses_the_address(served):
    dsn = (f"From: MAILER-DAEMON@mx.example.com\r\nTo: hello@acme.example\r\nMessage-ID: <mg-dsn@mx>\r\n"
           "Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
           "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
           "Final-Recipient: rfc822; user3@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           "--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: hello@acme.example\r\nTo: user3@example.com\r\n"
           f"Message-ID: {served.ours('c0003')}\r\nSubject: Hello\r\n\r\nHi\r\n--B--\r\n")
    for forged in (mailgun_signed({"body-mime": dsn}, key="not-the-key"),
                   mailgun_signed({"body-mime": dsn}, at=time.time() - 3600),
                   {"body-mime": dsn}):
        assert served.post("mailgun", auth=None, files={k: (None, v) for k, v in forged.items()}).status_code == 401
    assert served.enrollment("c0003") == "active"
    signed = mailgun_signed({"body-mime": dsn, "recipient": "hello@acme.example"})
    # Mailgun's forward() posts the raw MIME to a URL ending in "mime"
    answer = served.post("mailgun/mime", auth=None, files={k: (None, v) for k, v in signed.items()})
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == "bounced/hard" and answer.json()["recorded"] == 1
    assert served.suppressed("user3@example.com")  # a hard bounce: never sent to again
    (event,) = served.events("c0003", "bounced")
    assert event["fields"] == {"kind": "hard"} and event["source"] == "inbox"


def test_postmark_raw_and_rebuilt_json_and_a_bad_attachment_reported(served):
    optout = reply("user4@example.com", "RE: Hello User4", "Please remove me from your list.",
                   in_reply_to=served.ours("c0004"), mid="<pm-4@client.example>").as_string()
    answer = served.post("postmark", json={"From": "user4@example.com", "RawEmail": optout})
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == "unsubscribe_request" and answer.json()["recorded"] == 2
    assert [e["fields"] for e in served.events("c0004", "replied")] == [{"kind": "unsubscribe_request"}]
    assert len(served.events("c0004", "unsubscribed")) == 1
    rebuilt = {"From": "user5@example.com", "To": "hello@acme.example", "Subject": "Re: Hello User5",
               "TextBody": "Sounds good, call me Thursday.", "HtmlBody": "<p>Sounds good, call me Thursday.</p>",
               "Headers": [{"Name": "Message-ID", "Value": "<pm-5@client.example>"},
                           {"Name": "In-Reply-To", "Value": served.ours("c0005")}, "not a header"],
               "Attachments": [{"Name": "x.pdf", "ContentType": "application/pdf", "Content": "***not base64***"},
                               {"Name": "notes.txt", "ContentType": "text/plain",
                                "Content": base64.b64encode(b"notes").decode()}]}
    answer = served.post("postmark", json=rebuilt)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["label"] == "human" and got["matched"] and got["rebuilt"]
    assert got["problems"] == ["Headers[2]: not a {Name, Value} object; left out",
                               "Attachments[0]: no base64 `Content`; left out"]
    (event,) = served.events("c0005", "replied")
    assert event["fields"]["text"].startswith("Sounds good, call me Thursday.")


def test_bad_requests_are_refused_with_the_reason_and_strangers_are_kept_unmatched(served):
    assert served.post("elsewhere", json={}).status_code == 404
    big = served.post("sendgrid", files={"email": (None, b"x" * 400_000)})
    assert big.status_code == 413
    assert served.post("sendgrid", content=b"email=x", headers={"Content-Type": "text/plain"}).status_code == 415
    no_mail = served.post("sendgrid", files={"to": (None, "hello@acme.example")})
    assert no_mail.status_code == 400 and "email" in no_mail.json()["error"]
    assert served.post("postmark", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    stranger = reply("someone@nowhere.example", "A question", "Who are you?", mid="<stranger@nowhere>")
    answer = served.post("sendgrid", files={"email": (None, stranger.as_bytes())})
    assert answer.status_code == 200 and answer.json()["matched"] is False
    listed = json.loads(cli("inbox", "--unmatched", "--format", "json", "--config", str(served.folder / "fsl.yaml"),
                            env=dict(FSL_SERVER_SECRET=SECRET, MG_KEY=MG_KEY, INBOUND_PASSWORD=PASSWORD)).output)
    assert [r["mailbox"] for r in listed["unmatched"] if r["from"] == "someone@nowhere.example"] == [
        "hooks/inbound/sendgrid"]


def test_the_inbound_settings_are_validated_without_quoting_the_password():
    from fsl.webhook_settings import validate_webhooks

    settings, problems = validate_webhooks({"inbound": {"username": "fsl", "password": "inbound-password"}})
    assert problems == [] and settings is not None and settings.inbound is not None
    assert settings.inbound.max_bytes == 40_000_000 and "inbound-password" not in repr(settings)
    _, problems = validate_webhooks({"inbound": {"username": "fsl", "password": "short", "max_byte": 3}})
    messages = [m for _, m, _, _ in problems]
    assert any("webhooks.inbound.max_byte" in m and "max_bytes" in m for m in messages)
    assert [quoted for path, _, quoted, _ in problems if path[-1] == "password"] == [False]
