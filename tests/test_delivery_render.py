"""Rendering actions into OutMessages: the template context, HTML, tasks, failures."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fsl.config import load_config
from fsl.delivery import NeedsModel, OutMessage, RenderFailed, idempotency_key, message_id, render_action
from fsl.delivery.message import domain_of
from fsl.engine.model import ActionRecord, Contact, Deal
from fsl.templates import TemplateStore

UTC = timezone.utc
AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

CONFIG = """\
version: 1
templates: templates/
timezone: America/New_York
schema:
  contact:
    first_name: string
    last_name: string?
    tier: {enum: [A, B, C]}
    renews_at: datetime?
  deal:
    name: string
    amount: number
  stakeholder:
    role: {enum: [technical, economic]}
channels:
  email: {adapter: smtp, host: 127.0.0.1, port: 1025, from: "Ana Ruiz <ana@acme.example>"}
  sms: {adapter: webhook, url: "http://127.0.0.1:9/sms"}
  linkedin: {adapter: task}
"""

TEMPLATES = {
    "recap.md": """---
subject: "Next steps for {{ deal.name }}"
links:
  case_study: "https://acme.example/cases/northwind"
---
Hi {{ contact.first_name }}{{ " " ~ contact.last_name if contact.last_name }},

As {{ stakeholder.role }} for {{ deal.name }} ({{ deal.amount }}): {{ links.case_study }}
{% if offer %}{{ offer.percent }}% off until {{ offer.expires }}.{% endif %}
Topic: {{ topic }}. Touch {{ vars.touch }}.
""",
    "promo.html": """---
subject: "For {{ contact.first_name }} & co"
---
<p>Hello {{ contact.first_name }},</p>
<p>Read <a href="{{ links.more }}">this</a>.</p>
""",
    "plain.md": "Hi {{ contact.first_name }}, renewal on {{ contact.renews_at }}.\n",
    "missing.md": "Hi {{ contact.nickname }}\n",
    "sandbox.md": "{{ contact.__class__.__mro__ }}\n",
    "ai.md": "---\nrenderer: llm\n---\nWrite to {{ contact.first_name }}\n",
}


@pytest.fixture
def project(tmp_path: Path):
    (tmp_path / "fsl.yaml").write_text(CONFIG)
    folder = tmp_path / "templates"
    folder.mkdir()
    for name, text in TEMPLATES.items():
        (folder / name).write_text(text)
    (folder / "promo.html").write_text(TEMPLATES["promo.html"].replace("{{ links.more }}", "{{ more }}"))
    config, diags = load_config(tmp_path / "fsl.yaml")
    assert not diags, diags
    return config, TemplateStore(config.templates)


def contact(**fields) -> Contact:
    base = {"id": "c1", "email": "ana@northwind.example", "first_name": "Ana", "tier": "A", "owner": "rep@acme.example"}
    base.update(fields)
    return Contact("c1", base)


DEAL = Deal("d1", {"id": "d1", "name": "Northwind", "amount": 60000}, {"c1": {"role": "economic"}})


def record(kind="send", **kw) -> ActionRecord:
    defaults = dict(key=(7, "recap", 0, 1), at=AT, enrollment=7, contact="c1", deal="d1", playbook="post_meeting",
                    step="recap", kind=kind, channel="email", template="recap")
    defaults.update(kw)
    return ActionRecord(**defaults)


def test_send_renders_context_offer_links_with_and_vars(project):
    config, templates = project
    rec = record(offer={"percent": 10.0, "expires": datetime(2026, 11, 30, 23, 0, tzinfo=UTC)},
                 data={"with": {"topic": "pricing"}})
    msg = render_action(rec, contact(last_name="Ruiz"), DEAL, templates, config, {"touch": 3})
    assert isinstance(msg, OutMessage)
    assert msg.key == "7:recap:0:1" == idempotency_key(rec)
    assert (msg.kind, msg.channel, msg.to) == ("send", "email", "ana@northwind.example")
    assert msg.subject == "Next steps for Northwind"
    assert msg.html is None
    assert "Hi Ana Ruiz," in msg.text
    assert "As economic for Northwind (60000): https://acme.example/cases/northwind" in msg.text
    # a whole percent prints as 10; the expiry is a date in the contact's zone (New York: still the 30th)
    assert "10% off until 2026-11-30." in msg.text
    assert "Topic: pricing. Touch 3." in msg.text
    assert msg.payload["template"] == "recap" and msg.payload["playbook"] == "post_meeting"
    assert msg.payload["offer"] == {"percent": 10, "expires": "2026-11-30T23:00:00Z"}
    assert msg.payload["with"] == {"topic": "pricing"}
    json.dumps(msg.to_dict())  # the outbox stores it as JSON
    assert OutMessage.from_dict(json.loads(json.dumps(msg.to_dict()))) == msg


def test_optional_fields_missing_from_data_are_none(project):
    config, templates = project
    msg = render_action(record(data={"with": {"topic": "x"}}), contact(), DEAL, templates, config, {"touch": 1})
    assert "Hi Ana,\n" in msg.text  # last_name is declared optional: none, not an error
    assert "% off" not in msg.text  # no offer: none


def test_contact_time_zone_decides_local_dates(project):
    config, templates = project
    renews = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # still Nov 30 in New York
    rec = record(template="plain", deal=None)
    msg = render_action(rec, contact(renews_at=renews), None, templates, config, {})
    assert msg.text == "Hi Ana, renewal on 2026-11-30."
    msg = render_action(rec, contact(renews_at=renews, timezone="Europe/Madrid"), None, templates, config, {})
    assert msg.text.endswith("2026-12-01.")


def test_html_template_is_autoescaped_with_text_alternative(project):
    config, templates = project
    rec = record(template="promo", data={"with": {"more": "https://acme.example/?a=1&b=2"}})
    msg = render_action(rec, contact(first_name="<script>alert(1)</script>"), DEAL, templates, config, {})
    assert "<script>" not in msg.html and "&lt;script&gt;" in msg.html
    assert 'href="https://acme.example/?a=1&amp;b=2"' in msg.html
    assert "<script>alert(1)</script>" in msg.text  # the plain part is text, not HTML
    assert msg.subject == "For <script>alert(1)</script> & co"  # subjects are never HTML


def test_missing_variable_fails_the_whole_render(project):
    config, templates = project
    with pytest.raises(RenderFailed) as info:
        render_action(record(template="missing"), contact(), DEAL, templates, config, {})
    assert "nickname" in info.value.reason
    with pytest.raises(RenderFailed, match="topic"):  # `with` value not given
        render_action(record(), contact(), DEAL, templates, config, {"touch": 1})


def test_sandbox_refuses_internals(project):
    config, templates = project
    with pytest.raises(RenderFailed):
        render_action(record(template="sandbox"), contact(), DEAL, templates, config, {})


def test_unknown_template_channel_and_recipient(project):
    config, templates = project
    with pytest.raises(RenderFailed, match="no template"):
        render_action(record(template="nope"), contact(), DEAL, templates, config, {})
    with pytest.raises(RenderFailed, match="unknown channel"):
        render_action(record(channel="fax"), contact(), DEAL, templates, config, {})
    rec = record(template="plain")
    no_email = Contact("c1", {"id": "c1", "first_name": "Ana"})
    with pytest.raises(RenderFailed, match="no email"):
        render_action(rec, no_email, None, templates, config, {})
    with pytest.raises(RenderFailed, match="hide"):
        render_action(record(data={"with": {"contact": 1}}), contact(), DEAL, templates, config, {})


def test_llm_template_needs_the_model(project):
    config, templates = project
    with pytest.raises(NeedsModel) as info:
        render_action(record(template="ai"), contact(), DEAL, templates, config, {})
    assert info.value.template.name == "ai"
    assert info.value.context["contact"]["first_name"] == "Ana"


def test_explicit_to_and_webhook_recipient(project):
    config, templates = project
    rec = record(template="plain", to="boss@northwind.example")
    assert render_action(rec, contact(), None, templates, config, {}).to == "boss@northwind.example"
    rec = record(template="plain", channel="sms")
    assert render_action(rec, contact(phone="+15550100"), None, templates, config, {}).to == "+15550100"
    assert render_action(rec, contact(), None, templates, config, {}).to is None


def test_task_and_notify_render_their_text(project):
    config, templates = project
    due = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    rec = record("task", channel="call", template=None, to="rep@acme.example", due=due,
                 text="Call {{ contact.first_name }} about {{ deal.name }}")
    msg = render_action(rec, contact(), DEAL, templates, config, {})
    assert (msg.kind, msg.channel, msg.to, msg.subject) == ("task", "call", "rep@acme.example", None)
    assert msg.text == "Call Ana about Northwind"
    assert msg.payload["task"] == "call" and msg.payload["due"] == "2026-11-24T15:00:00Z"
    rec = record("notify", channel=None, template=None, to="boss@acme.example",
                 text="{{ contact.first_name }} ({{ stakeholder.role }})")
    msg = render_action(rec, contact(), DEAL, templates, config, {})
    assert (msg.kind, msg.channel, msg.to, msg.text) == ("notify", "notify", "boss@acme.example", "Ana (economic)")
    with pytest.raises(RenderFailed, match="company"):
        render_action(record("notify", text="{{ contact.company }}", to="x"), contact(), DEAL, templates, config, {})
    with pytest.raises(RenderFailed):  # sandboxed too
        render_action(record("notify", text="{{ ''.__class__.__mro__ }}", to="x"), contact(), DEAL, templates,
                      config, {})
    with pytest.raises(RenderFailed, match="nothing to deliver"):
        render_action(record("set"), contact(), DEAL, templates, config, {})


def test_stakeholder_is_none_without_a_deal(project):
    config, templates = project
    rec = record("notify", deal=None, to="x", text="{{ 'none' if stakeholder is none else 'some' }} {{ deal }}")
    assert render_action(rec, contact(), None, templates, config, {}).text == "none None"


def test_message_id_is_deterministic_and_well_formed():
    a = message_id("7:recap:0:1", "acme.example")
    assert a == message_id("7:recap:0:1", "acme.example")
    assert a != message_id("7:recap:1:1", "acme.example")
    assert a.startswith("<") and a.endswith("@acme.example>") and "recap" not in a
    assert message_id("k", None).endswith("@fsl.invalid>")
    assert domain_of("Ana Ruiz <ana@Acme.Example>") == "acme.example"
    assert domain_of("nobody") is None
    assert message_id("k", "bücher.example").endswith("@xn--bcher-kva.example>")
