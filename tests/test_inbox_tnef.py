"""Outlook's winmail.dat (TNEF): a reply whose text is only inside it is classified from that text,
the files inside are named in the evidence, and a corrupt one never stops the reader (SIGNALS.md 3,
the issue's bad input).  Real samples: tests/fixtures/inbox/tnef (README there)."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from fsl.inbox.classify import classify
from fsl.inbox.mail import read_mail
from fsl.inbox.process import Processor
from fsl.inbox.tnef import read_tnef

from .test_inbox_process import READ, _explain, _key, _sent
from .test_ops_support import cli, runtime

SAMPLES = Path(__file__).parent / "fixtures" / "inbox" / "tnef"
ANA = frozenset({"ana@client.example"})
OWN = frozenset({"replies@acme.example"})


def _reply(tnef: bytes, *, subject: str = "RE: plan", plain: str | None = None, sender: str = "ana@client.example",
           in_reply_to: str | None = None, to: str = "replies@acme.example") -> bytes:
    """An Outlook reply: multipart/mixed whose body is winmail.dat (and, with `plain`, a text part)."""
    head = (f"From: Ana <{sender}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            "Date: Mon, 23 Nov 2026 16:00:00 +0000\r\nMessage-ID: <tnef-1@client.example>\r\n"
            + (f"In-Reply-To: {in_reply_to}\r\n" if in_reply_to else "")
            + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n").encode()
    body = b""
    if plain is not None:
        body += b"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + plain.encode() + b"\r\n"
    body += (b"--outer\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n"
             b"Content-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(tnef) + b"--outer--\r\n")
    return head + body


def _attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def _tnef_with_body(text: str) -> bytes:
    """A minimal TNEF as Outlook writes one: version, OEM codepage 1252, then attBody."""
    return (struct.pack("<IH", 0x223E9F78, 0x1234)
            + _attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
            + _attribute(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
            + _attribute(1, 0x800C, 0x0002, text.encode("cp1252")))  # attBody


@pytest.mark.parametrize("sample,says,source,files", [
    ("rtf.tnef", "Greg Allen", "RTF", ()),
    ("umlaut.tnef", "TEST äöü", "RTF", ("TBZ PARIV GmbH.jpg", "image003.jpg", "UmlautAnhang-äüö.txt")),
    ("unicode-mapi-attr.tnef", "hello world", "plain", ("example.dat",)),
    ("body.tnef", "THE BILL OF RIGHTS", "HTML", ()),
    ("triples.tnef", "Sample description", "plain", ()),
])
def test_a_reply_whose_text_is_only_in_winmail_dat_is_read_from_it(sample, says, source, files):
    mail = read_mail(_reply((SAMPLES / sample).read_bytes()))
    assert says in mail.text
    got = classify(mail, recipients=ANA, own=OWN)
    assert got.label == "human"
    assert says in got.signals[0].fields["text"]
    (note,) = [e for e in got.evidence if "winmail.dat" in e]
    assert f"text read from its {source} body" in note
    for name in files:
        assert name in note


def test_attachments_inside_are_listed_even_when_the_message_has_its_own_text():
    mail = read_mail(_reply((SAMPLES / "two-files.tnef").read_bytes(), plain="Both files attached."))
    got = classify(mail, recipients=ANA, own=OWN)
    assert got.label == "human" and mail.text.strip() == "Both files attached."
    assert any("attachments: AUTHORS, README" in e for e in got.evidence)


def test_an_absence_or_a_stop_request_inside_winmail_dat_is_classified_from_its_text():
    away = read_mail(_reply(_tnef_with_body("I am out of the office until Monday, December 14, 2026."),
                            subject="Automatic reply: plan"))
    got = classify(away, recipients=ANA, own=OWN, zone="Europe/Berlin")
    assert got.label == "out_of_office" and str(got.return_date) == "2026-12-14"
    stop = classify(read_mail(_reply(_tnef_with_body("Please remove me from your list.\r\n\r\nAna"))),
                    recipients=ANA, own=OWN)
    assert stop.label == "unsubscribe_request"


@pytest.mark.parametrize("blob,reason", [
    (b"\x78\x9f\x3e\x22" + bytes(range(256)) * 40, "unreadable TNEF"),
    (b"not TNEF at all", "unreadable TNEF"),
    ((SAMPLES / "umlaut.tnef").read_bytes()[:30_000], "fail their checksum"),
    ((SAMPLES / "rtf.tnef").read_bytes()[:8], "no TNEF attribute"),
])
def test_a_corrupt_winmail_dat_is_classified_from_the_rest_with_the_reason(blob, reason):
    alone = classify(read_mail(_reply(blob)), recipients=ANA, own=OWN)
    assert alone.label == "human"
    assert any(reason in e for e in alone.evidence), alone.evidence
    with_text = read_mail(_reply(blob, plain="Please remove me from your list."))
    assert classify(with_text, recipients=ANA, own=OWN).label == "unsubscribe_request"


def test_read_tnef_never_raises_on_any_cut_of_a_real_sample():
    data = (SAMPLES / "umlaut.tnef").read_bytes()
    for end in range(0, len(data), 997):
        found = read_tnef(data[:end])
        assert found.text or found.problem or found.attachments or end < 50


def test_an_outlook_reply_is_recorded_and_a_corrupt_stranger_one_kept_unmatched_with_why(tmp_path):
    config = _sent(tmp_path)
    rt = runtime(config)
    try:
        p = Processor(rt, "test")
        reply = _reply(_tnef_with_body("Yes, let's talk on Thursday."), subject="RE: Hello User1",
                       sender="user1@example.com", in_reply_to=_key(1), to="hello@acme.example")
        got = p.handle(reply, uid=1, internaldate=None, now=READ)
        assert got.matched and got.label == "human"
        corrupt = _reply(b"\x78\x9f\x3e\x22garbage", sender="stranger@nowhere.example")
        assert not p.handle(corrupt, uid=2, internaldate=None, now=READ).matched
    finally:
        rt.close()
    (replied,) = [e for e in _explain(config, "c0001")["events"] if e["type"] == "replied"]
    assert replied["fields"]["text"].startswith("Yes, let's talk on Thursday.")
    assert any("winmail.dat (TNEF): text read from its plain body" in e for e in replied["evidence"])
    listed = json.loads(cli("inbox", "--unmatched", "--format", "json", "--config", str(config)).output)
    (kept,) = listed["unmatched"]
    assert any("no TNEF attribute in it" in e for e in kept["evidence"]), kept
