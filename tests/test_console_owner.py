"""Sending as the owner (CONSOLE.md): `from: owner` on an smtp channel, through the production
tick to a real SMTP server on loopback.  The contact's owner (a console user) is the From;
a contact without one gets the channel's `fallback_from`; replies go to `reply_to`; templates
see `owner` either way."""
from __future__ import annotations

from datetime import timedelta

from fsl.config import load_config

from .smtp_sink import SmtpSink
from .test_ops_support import T0, cli, make_project, runtime

HELLO = """\
---
subject: "Hello {{ contact.first_name }}"
---
Hi {{ contact.first_name }},

{{ owner.signature or ("-- " ~ owner.name) }}
"""
CHANNEL = ('  email: {adapter: smtp, host: 127.0.0.1, port: PORT, from: owner, '
           'fallback_from: "Acme Sales <sales@acme.example>", reply_to: replies@acme.example, timeout: 5}\n')


def test_messages_go_out_from_the_contacts_owner_else_the_fallback(tmp_path):
    from fsl.engine.model import Contact, Event
    from fsl.runtime.deploy import deploy

    with SmtpSink() as sink:
        config = make_project(tmp_path, port=sink.port)
        text = config.read_text()
        start = text.index("  email: {adapter: smtp")
        config.write_text(text[:start] + CHANNEL.replace("PORT", str(sink.port)))
        (tmp_path / "templates" / "hello.md").write_text(HELLO)
        added = cli("users", "add", "ana", "--role", "rep", "--email", "ana.ruiz@acme.example", "--display-name",
                    "Ana Ruiz", "--signature", "Ana Ruiz, Account Executive, +1 415 555 0100",
                    "--password-stdin", cwd=tmp_path, input="pw-ana-123\n")
        assert added.exit_code == 0, added.output
        rt = runtime(config)
        try:
            deploy(rt, [], now=T0)
            rt.put_contacts([Contact("c1", {"id": "c1", "email": "c1@example.com", "first_name": "Carla",
                                            "owner": "ana"}),
                             Contact("c2", {"id": "c2", "email": "c2@example.com", "first_name": "Dev"})], now=T0)
            rt.record_events([Event(T0, "signed_up", "c1"), Event(T0, "signed_up", "c2")])
            rt.tick(T0 + timedelta(minutes=1))
        finally:
            rt.close()
        sent = {m.rcpt_tos[0]: m for m in sink.messages}
    owned, orphan = sent["c1@example.com"], sent["c2@example.com"]
    assert owned.message["From"] == "Ana Ruiz <ana.ruiz@acme.example>"
    assert "Ana Ruiz, Account Executive" in owned.message.get_content()
    assert orphan.message["From"] == "Acme Sales <sales@acme.example>"
    assert "-- Acme Sales" in orphan.message.get_content()
    for m in (owned, orphan):
        assert m.message["Reply-To"] == "replies@acme.example"  # the inbox reads replies
        # the envelope sender is the inbox too (SIGNALS.md 3): bounces and auto-replies go where they are read
        assert m.mail_from == "replies@acme.example"


def test_from_owner_needs_a_fallback(tmp_path):
    config = make_project(tmp_path)
    text = config.read_text()
    start = text.index("  email: {adapter: smtp")
    config.write_text(text[:start] + "  email: {adapter: smtp, host: 127.0.0.1, from: owner}\n")
    loaded, diagnostics = load_config(config)
    assert loaded is None and any("fallback_from" in d.message for d in diagnostics)
