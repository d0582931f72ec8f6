"""The SMTP adapter against a real loopback SMTP server (tests/smtp_sink.py)."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from fsl.config import Channel
from fsl.delivery import OutMessage, message_id
from fsl.delivery.channels import make_adapter
from fsl.delivery.channels.smtp import SmtpAdapter

from .smtp_sink import SmtpSink, free_port

FROM = "Ana Ruiz <ana@acme.example>"


def channel(port: int, **settings) -> Channel:
    return Channel(name="email", adapter="smtp", settings={"host": "127.0.0.1", "port": port, "from": FROM,
                                                           "timeout": 5, **settings})


def message(key: str = "7:recap:0:1", **kw) -> OutMessage:
    base = dict(key=key, channel="email", kind="send", to="Bea Li <bea@northwind.example>", subject="Next steps",
                text="Hi Bea,\nsee you.", html=None, payload={"contact": "c1", "contact_email": "bea@northwind.example"})
    base.update(kw)
    return OutMessage(**base)


def test_delivers_headers_message_id_and_multipart():
    with SmtpSink() as sink:
        adapter = make_adapter(channel(sink.port))
        assert isinstance(adapter, SmtpAdapter)
        result = adapter.deliver(message(html="<p>Hi Bea,</p>", headers={"X-Campaign": "q4"}))
        adapter.close()
    assert result.status == "delivered", result
    (got,) = sink.messages
    msg = got.message
    assert got.mail_from == "ana@acme.example" and got.rcpt_tos == ["bea@northwind.example"]
    assert msg["From"] == FROM and msg["To"] == "Bea Li <bea@northwind.example>"
    assert msg["Subject"] == "Next steps" and msg["X-Campaign"] == "q4"
    assert msg["Message-ID"] == message_id("7:recap:0:1", "acme.example")
    assert msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").strip() == "Hi Bea,\nsee you."
    assert msg.get_body(("html",)).get_content().strip() == "<p>Hi Bea,</p>"


def test_plain_only_and_recipient_from_payload():
    with SmtpSink() as sink:
        adapter = make_adapter(channel(sink.port))
        assert adapter.deliver(message(to=None)).status == "delivered"
        adapter.close()
    msg = sink.messages[0].message
    assert msg.get_content_type() == "text/plain" and msg["To"] == "bea@northwind.example"


def test_connection_is_reused_and_reopened_after_a_drop():
    with SmtpSink() as sink:
        adapter = SmtpAdapter(channel(sink.port))
        for i in range(3):
            assert adapter.deliver(message(key=f"7:recap:{i}:1")).status == "delivered"
        assert sink.connections == 1
        adapter._conn.sock.shutdown(socket.SHUT_RDWR)  # the server (or a NAT) dropped the idle connection
        assert adapter.deliver(message(key="7:recap:9:1")).status == "delivered"
        adapter.close()
    assert len(sink.messages) == 4 and sink.connections == 2


def test_login_with_auth_plain_on_loopback():
    with SmtpSink(users={"ana": "s3cret-pass"}) as sink:
        good = SmtpAdapter(channel(sink.port, username="ana", password="s3cret-pass"))
        assert good.deliver(message()).status == "delivered"
        good.close()
        bad = SmtpAdapter(channel(sink.port, username="ana", password="wrong-pass"))
        result = bad.deliver(message())
        bad.close()
        anonymous = SmtpAdapter(channel(sink.port))
        refused = anonymous.deliver(message())
        anonymous.close()
    assert sink.messages[0].login == "ana"
    assert result.status == "retry" and "login" in result.detail and "wrong-pass" not in result.detail
    assert refused.status in ("retry", "failed") and len(sink.messages) == 1


def test_451_retries_and_550_fails():
    with SmtpSink() as sink:
        adapter = SmtpAdapter(channel(sink.port))
        sink.fail_next(1, 451)
        first = adapter.deliver(message())
        sink.fail_next(1, 550)
        second = adapter.deliver(message(key="k2"))
        third = adapter.deliver(message(key="k3"))  # the connection is still usable
        sink.refuse_rcpt_next(1, 550)
        fourth = adapter.deliver(message(key="k4"))
        sink.refuse_rcpt_next(1, 450, "Greylisted")
        fifth = adapter.deliver(message(key="k5"))
        adapter.close()
    assert first.status == "retry" and "451" in first.detail
    assert second.status == "failed" and "550" in second.detail
    assert third.status == "delivered"
    assert fourth.status == "failed" and "recipient" in fourth.detail
    assert fifth.status == "retry" and "Greylisted" in fifth.detail
    assert len(sink.messages) == 1


def test_connection_refused_retries():
    adapter = SmtpAdapter(channel(free_port()))
    result = adapter.deliver(message())
    assert result.status == "retry" and "cannot connect" in result.detail


def test_unbuildable_messages_fail_without_connecting():
    adapter = SmtpAdapter(channel(free_port()))
    assert adapter.deliver(message(to=None, payload={})).status == "failed"
    assert adapter.deliver(message(to="bea@x.example\nBcc: all@x.example")).status == "failed"
    # `from: ${SMTP_FROM}` with the variable unset: accepted by check, reported at each send
    no_from = SmtpAdapter(Channel(name="email", adapter="smtp", settings={"host": "127.0.0.1", "port": 1,
                                                                          "from": None}))
    assert "from" in no_from.deliver(message()).detail


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_starttls_then_login(tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with SmtpSink(users={"ana": "pw-123"}, tls_context=context, require_starttls=True) as sink:
        adapter = SmtpAdapter(channel(sink.port, starttls=True, username="ana", password="pw-123", ca_file=str(cert)))
        assert adapter.deliver(message()).status == "delivered"
        adapter.close()
        plain = SmtpAdapter(channel(sink.port))  # the server insists on STARTTLS
        assert plain.deliver(message(key="k2")).status in ("retry", "failed")
        plain.close()
    assert len(sink.messages) == 1 and sink.messages[0].login == "ana"


def test_the_envelope_sender_is_the_reply_address_so_bounces_reach_the_inbox():
    with SmtpSink() as sink:
        adapter = make_adapter(channel(sink.port, reply_to="Replies <replies@acme.example>"))
        result = adapter.deliver(message())
        adapter.close()
    assert result.status == "delivered", result
    (got,) = sink.messages
    assert got.mail_from == "replies@acme.example"
    assert got.message["Reply-To"] == "Replies <replies@acme.example>"
