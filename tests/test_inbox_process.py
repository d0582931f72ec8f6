"""A message from the inbox becomes events on the message it answers, or is kept as unmatched
(SIGNALS.md 3 and 5), against a real store and a real SMTP delivery (aiosmtpd on loopback)."""
from __future__ import annotations

import json
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import sqlalchemy as sa

from fsl.delivery.message import message_id
from fsl.inbox.process import Processor
from fsl.store.schema import suppressions

from .test_ops_support import T0, SmtpServer, at, cli, make_project, populate, runtime

READ = T0 + timedelta(hours=2)


def _sent(tmp_path, n: int = 4):
    smtp = SmtpServer().__enter__()
    config = make_project(tmp_path, port=smtp.port)
    populate(config, n)
    result = cli("tick", "--now", at(), "--format", "json", cwd=tmp_path)
    assert json.loads(result.stdout)["delivered"] == n
    smtp.__exit__(None, None, None)
    return config


def _mail(sender: str, subject: str, body: str, *, reply_to: str | None = None, date=T0 + timedelta(hours=1),
          headers: dict | None = None, cc: str | None = None, mid: str = "<r1@example.com>") -> bytes:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = sender, "hello@acme.example", subject
    if cc:
        m["Cc"] = cc
    m["Date"], m["Message-ID"] = format_datetime(date), mid
    if reply_to:
        m["In-Reply-To"] = reply_to
    for k, v in (headers or {}).items():
        m[k] = v
    m.set_content(body)
    return m.as_bytes()


def _key(contact_index: int) -> str:
    return message_id(f"{contact_index}:hello:0:0", "acme.example")


def _explain(config, contact: str) -> dict:
    return json.loads(cli("explain", contact, "--format", "json", "--config", str(config)).output)


def test_a_human_reply_stops_and_an_out_of_office_pauses_with_its_return_date(tmp_path):
    config = _sent(tmp_path)
    rt = runtime(config)
    try:
        p = Processor(rt, "test")
        human = p.handle(_mail("user1@example.com", "Re: Hello User1", "Yes, let's talk.\n\nOn Mon wrote:\n> hi",
                               reply_to=_key(1)), uid=1, internaldate=None, now=READ)
        assert human.matched and human.label == "human"
        away = p.handle(_mail("user2@example.com", "Automatic reply: Hello User2",
                              "I am out of the office until Monday, November 30, 2026.", reply_to=_key(2),
                              headers={"Auto-Submitted": "auto-replied"}, mid="<r2@example.com>"),
                        uid=2, internaldate=None, now=READ)
        assert away.label == "out_of_office" and away.events[0].fields["return_date"] == "2026-11-30"
    finally:
        rt.close()
    one = _explain(config, "c0001")
    assert one["enrollments"][0]["status"] == "ended"
    (reply,) = [e for e in one["events"] if e["type"] == "replied"]
    assert reply["source"] == "inbox" and reply["fields"]["kind"] == "human"
    assert any("matched:" in e for e in reply["evidence"])
    assert reply["at"].startswith("2026-11-23T16:00")  # its Date header
    two = _explain(config, "c0002")
    assert two["enrollments"][0]["status"] == "paused"


def test_a_bounce_carrying_our_message_bounces_its_recipient(tmp_path):
    config = _sent(tmp_path)
    original = _mail("hello@acme.example", "Hello User3", "Hi", mid=_key(3)).decode()
    dsn = (f"From: MAILER-DAEMON@mx.example.com\r\nTo: hello@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
           f"Date: {format_datetime(T0 + timedelta(minutes=5))}\r\nMessage-ID: <dsn1@mx.example.com>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
           "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"
           "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
           "Final-Recipient: rfc822; user3@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
           "--B\r\nContent-Type: message/rfc822\r\n\r\n" + original + "\r\n--B--\r\n").encode()
    rt = runtime(config)
    try:
        out = Processor(rt, "test").handle(dsn, uid=3, internaldate=None, now=READ)
    finally:
        rt.close()
    assert out.matched and out.label == "bounced/hard"
    (ev,) = out.events
    assert (ev.type, ev.contact, ev.step, ev.fields) == ("bounced", "c0003", "hello", {"kind": "hard"})
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            suppressed = [r[0] for r in conn.execute(sa.select(suppressions.c.address))]
    finally:
        rt.close()
    assert suppressed == ["user3@example.com"]  # a hard bounce: never sent to again


def test_subject_then_address_matching_and_a_forward(tmp_path):
    config = _sent(tmp_path)
    rt = runtime(config)
    try:
        p = Processor(rt, "test")
        by_subject = p.handle(_mail("User1 <USER1@example.com>", "AW: Hello User1", "Danke!"), uid=1,
                              internaldate=None, now=READ)
        assert by_subject.events[0].step == "hello" and by_subject.events[0].contact == "c0001"
        by_address = p.handle(_mail("user2@example.com", "Something else", "Question", mid="<r2@x>"), uid=2,
                              internaldate=None, now=READ)
        assert by_address.matched and by_address.events[0].step is None
        forward = p.handle(_mail("boss@example.com", "Fwd: Hello User4", "I'm User4's boss", reply_to=_key(4),
                                 mid="<r3@x>"), uid=3, internaldate=None, now=READ)
        assert forward.label == "forwarded"
        assert (forward.events[0].type, forward.events[0].contact, forward.events[0].fields) == \
            ("forwarded", "c0004", {"to": "boss@example.com"})
    finally:
        rt.close()


def test_unmatched_mail_is_kept_reported_and_never_recorded_twice(tmp_path):
    config = _sent(tmp_path)
    stranger = _mail("stranger@nowhere.example", "Hi", "Who are you?", mid="<s1@x>")
    dsn_unknown = ("From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
                   "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n--B\r\n"
                   "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
                   "Final-Recipient: rfc822; never@written.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--B--\r\n").encode()
    reply = _mail("user1@example.com", "Re: Hello User1", "Great", reply_to=_key(1), mid="<again@x>")
    rt = runtime(config)
    try:
        p = Processor(rt, "test")
        assert not p.handle(stranger, uid=1, internaldate=None, now=READ).matched
        assert not p.handle(dsn_unknown, uid=2, internaldate=None, now=READ).matched
        assert not p.handle(stranger, uid=1, internaldate=None, now=READ).matched  # a re-read: kept once
        first = p.handle(reply, uid=3, internaldate=None, now=READ)
        again = p.handle(reply, uid=3, internaldate=None, now=READ)
        assert len(first.events) == 1 and first.warnings == []
        assert again.warnings and "already recorded" in again.warnings[0]
    finally:
        rt.close()
    status = json.loads(cli("status", "--format", "json", "--now", at(200), "--config", str(config)).output)
    assert status["inbox"]["unmatched"] == 2
    listed = json.loads(cli("inbox", "--unmatched", "--format", "json", "--config", str(config)).output)
    assert {r["from"] for r in listed["unmatched"]} == {"stranger@nowhere.example", "mailer-daemon@mx.example.com"}
    assert {r["label"] for r in listed["unmatched"]} == {"human", "bounced/hard"}
    replies = [e for e in _explain(config, "c0001")["events"] if e["type"] == "replied"]
    assert len(replies) == 1


def test_the_date_is_kept_between_the_send_and_the_read(tmp_path):
    config = _sent(tmp_path)
    rt = runtime(config)
    try:
        p = Processor(rt, "test")
        early = p.handle(_mail("user1@example.com", "Re: Hello User1", "ok", reply_to=_key(1),
                               date=T0 - timedelta(days=3)), uid=1, internaldate=None, now=READ)
        late = p.handle(_mail("user2@example.com", "Re: Hello User2", "ok", reply_to=_key(2), mid="<l@x>",
                              date=T0 + timedelta(days=3)), uid=2, internaldate=None, now=READ)
    finally:
        rt.close()
    assert early.events[0].at >= T0 and late.events[0].at == READ


def test_a_return_date_is_read_in_the_contacts_time_zone(tmp_path):
    from datetime import datetime, timezone

    from fsl.engine.model import Contact

    config = _sent(tmp_path)
    late = datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)  # already the 24th in Tokyo
    rt = runtime(config)
    try:
        rt.put_contacts([Contact("c0001", {"id": "c0001", "email": "user1@example.com", "first_name": "User1",
                                           "timezone": "Asia/Tokyo"})], now=T0)
        p = Processor(rt, "test")
        got = [p.handle(_mail(f"user{i}@example.com", "Automatic reply: Hello", "I am out of the office today, back tomorrow.",
                              reply_to=_key(i), date=late, mid=f"<tz{i}@x>",
                              headers={"Auto-Submitted": "auto-replied"}),
                        uid=i, internaldate=None, now=late + timedelta(minutes=5)) for i in (1, 2)]
    finally:
        rt.close()
    assert [g.events[0].fields["return_date"] for g in got] == ["2026-11-25", "2026-11-24"]


def test_a_fetch_batch_is_prepared_in_one_read_and_one_broken_message_is_kept_with_why(tmp_path, monkeypatch):
    from fsl.inbox.process import Incoming

    config = _sent(tmp_path)
    rt = runtime(config)
    reads = []
    real_read = rt.db.read
    monkeypatch.setattr(rt.db, "read", lambda *a, **k: reads.append(1) or real_read(*a, **k))
    p = Processor(rt, "test")
    real = p._classify_and_match

    def breaks_on_user3(mail, matcher, now):
        if mail.sender == "user3@example.com":
            raise RuntimeError("the classifier broke")
        return real(mail, matcher, now)

    monkeypatch.setattr(p, "_classify_and_match", breaks_on_user3)
    batch = [Incoming(_mail("user1@example.com", "Re: Hello User1", "Yes.", reply_to=_key(1), mid="<b1@x>"), 1),
             Incoming(_mail("user2@example.com", "Something else", "Call me.", mid="<b2@x>"), 2),
             Incoming(_mail("user3@example.com", "Re: Hello User3", "Sure.", reply_to=_key(3), mid="<b3@x>"), 3),
             Incoming(_mail("user4@example.com", "Re: Hello User4", "Please remove me.", reply_to=_key(4),
                            mid="<b4@x>"), 4),
             Incoming(_mail("stranger@nowhere.example", "Hi", "Who are you?", mid="<b5@x>"), 5)]
    try:
        got = p.prepare_batch(batch, READ)
        # one read for the whole batch, however many messages; one more to re-render the subjects
        # sent to user2 (matched by address, its subject compared)
        assert len(reads) == 2
        assert [(x.uid, x.outcome.label, x.outcome.matched) for x in got] == [
            (1, "human", True), (2, "human", True), (3, "error", False), (4, "unsubscribe_request", True),
            (5, "human", False)]
        assert got[0].outcome.events[0].step == "hello" and got[1].outcome.events[0].step is None
        assert got[2].error == "RuntimeError: the classifier broke" and got[2].unmatched is not None
        p.commit(got, READ)
    finally:
        rt.close()
    assert _explain(config, "c0001")["enrollments"][0]["status"] == "ended"
