"""Whatever arrives in the inbox is read without crashing (SIGNALS.md 3; the house rule on bad input)."""
from __future__ import annotations

import base64

import pytest

from fsl.inbox.classify import classify
from fsl.inbox.mail import read_mail

HEAD = b"From: Ana <ana@client.example>\r\nTo: replies@acme.example\r\nSubject: Re: plan\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"


OWN = frozenset({"replies@acme.example"})


def _mime(body: bytes, boundary: bytes = b"b1") -> bytes:
    return HEAD + b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"" + boundary + b"\"\r\n\r\n" + body


CASES = {
    "no headers at all": b"just some bytes\x00\xff\xfe",
    "empty": b"",
    "unterminated multipart": _mime(b"--b1\r\nContent-Type: text/plain\r\n\r\nThanks, sounds good\r\n--b1\r\nContent-Type: text/pla"),
    "boundary never used": _mime(b"Thanks, sounds good\r\n", b"nowhere"),
    "unknown charset": HEAD + b"Content-Type: text/plain; charset=x-klingon\r\n\r\nThanks \xe9\xe8\r\n",
    "lying charset": HEAD + b"Content-Type: text/plain; charset=us-ascii\r\n\r\nDanke sch\xc3\xb6n, bis n\xc3\xa4chste Woche\r\n",
    "broken base64": HEAD + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not*base64===\r\n",
    "odd encoded words": HEAD.replace(b"Subject: Re: plan", b"Subject: =?x-unknown?Q?=FF=FE?= =?utf-8?B?////?= =?utf-8?Q?broken")
    + b"\r\nThanks\r\n",
    "encoded word in From": b"From: =?utf-8?B?5byg5LiJ?= <zhang@client.example>\r\nSubject: =?gb2312?B?u9i4tA==?=\r\n\r\nhi\r\n",
    "html only": HEAD + b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Yes, call me.</p><script>x()</script></body></html>\r\n",
    "tnef winmail.dat": _mime(b"--b1\r\nContent-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                              + base64.encodebytes(b"\x78\x9f\x3e\x22" + bytes(range(256)) * 40) + b"--b1--\r\n"),
    "nested rfc822": _mime(b"--b1\r\nContent-Type: text/plain\r\n\r\nSee below\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n"
                           b"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
                           b"Content-Type: text/plain\r\n\r\nunsubscribe\r\n--zz--\r\n--b1--\r\n"),
    "no date, bad date": HEAD.replace(b"Date: Thu, 03 Dec 2026 10:00:00 +0000", b"Date: someday soon") + b"\r\nok\r\n",
    "dsn without recipients": b"From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
                              b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n--r\r\n"
                              b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\nAction: failed\r\n--r--\r\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_read_and_classified_without_crashing(name):
    mail = read_mail(CASES[name])
    got = classify(mail, recipients=frozenset({"ana@client.example"}), own=OWN)
    assert got.label and got.evidence
    assert mail.dedup.startswith("inbox:")


def test_a_20_mb_attachment_is_not_decoded_and_the_text_is_kept():
    blob = base64.encodebytes(b"\x00" * (15 * 1024 * 1024))
    raw = _mime(b"--b1\r\nContent-Type: text/plain\r\n\r\nSigned contract attached.\r\n--b1\r\n"
                b"Content-Type: application/pdf; name=c.pdf\r\nContent-Disposition: attachment\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + blob + b"--b1--\r\n")
    assert len(raw) > 20_000_000
    mail = read_mail(raw)
    assert mail.text.strip() == "Signed contract attached."
    assert classify(mail, recipients=frozenset({"ana@client.example"}), own=OWN).label == "human"


def test_text_in_a_lying_charset_is_still_read():
    mail = read_mail(CASES["lying charset"])
    assert "Danke schön" in mail.text


def test_the_carried_original_is_not_the_reply_text():
    mail = read_mail(CASES["nested rfc822"])
    assert "unsubscribe" not in mail.text
    assert classify(mail, recipients=frozenset({"ana@client.example"}), own=OWN).label == "human"


def test_eight_bit_headers_are_read_as_utf8():
    raw = "From: a@b.example\r\nSubject: メールエラー通知\r\n\r\nx\r\n".encode("utf-8")
    assert read_mail(raw).subject == "メールエラー通知"
