"""An action record -> the `OutMessage` its channel delivers.

Rendering is all or nothing: any failure (a missing variable under
StrictUndefined, a sandbox violation, a template that cannot be found) raises
`RenderFailed` with a reason, and nothing is sent, so a contact never gets
half a message or a blank where their name should be.  Templates with
`renderer: llm` raise `NeedsModel`: a model writes those, elsewhere
(fsl/llm), from the same context.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import jinja2
from jinja2 import StrictUndefined

from fsl.config import Config
from fsl.engine.model import ActionRecord, Contact, Deal
from fsl.engine.recipients import address_text, recipient
from fsl.sandbox import BudgetSandbox
from fsl.sandbox import budget
from fsl.templates import Template, TemplateError, TemplateStore, render_template

from .address import BadAddress, one_address
from .context import jsonable, template_context
from .message import OutMessage, idempotency_key

# The contact field that addresses a send when the playbook gives no `to`.


class RenderFailed(Exception):
    """The action cannot be rendered; `reason` says why (no secrets, no message text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NeedsModel(Exception):
    """The template is `renderer: llm`: a model must write it from `context`."""

    def __init__(self, template: Template, context: dict[str, Any]) -> None:
        super().__init__(f"template {template.name!r} is written by the model (renderer: llm)")
        self.template = template
        self.context = context


def render_action(record: ActionRecord, contact: Contact, deal: Deal | None, templates: TemplateStore,
                  config: Config, vars: Mapping[str, Any] | None,
                  owner: Mapping[str, Any] | None = None, *, unsubscribe_url: str | None = None) -> OutMessage:
    """Render a send (`renderer: template`), a task or a notification.

    `unsubscribe_url` is `{{ unsubscribe_url }}` for a channel with tracking
    on (fsl.signals.handover).  Raises NeedsModel for `renderer: llm`
    templates and RenderFailed when the message cannot be rendered completely.
    """
    if record.kind not in ("send", "task", "notify"):
        raise RenderFailed(f"a `{record.kind}` action has nothing to deliver")
    try:
        context = template_context(record, contact, deal, config, vars, owner)
    except ValueError as exc:
        raise RenderFailed(str(exc)) from None
    if unsubscribe_url is not None:
        context["unsubscribe_url"] = unsubscribe_url
    if record.kind == "send":
        return _send(record, contact, templates, config, context, owner)
    return _stored(record, contact, context)


def _send(record: ActionRecord, contact: Contact, templates: TemplateStore, config: Config,
          context: dict[str, Any], owner: Mapping[str, Any] | None = None) -> OutMessage:
    channel = config.channels.get(record.channel or "")
    if channel is None:
        raise RenderFailed(f"unknown channel {record.channel!r}; fsl.yaml declares "
                           f"{', '.join(config.channels) or 'no channels'}")
    if not record.template:
        raise RenderFailed("the send names no template")
    if channel.adapter == "smtp":
        _email_recipient(record, contact, channel.settings.recipient_field)  # before any model call
    try:
        template = templates.lookup(record.template)
    except (LookupError, TemplateError) as exc:
        raise RenderFailed(f"template {record.template!r}: {exc}") from None
    if template.renderer == "llm":
        raise NeedsModel(template, context)
    try:
        rendered = render_template(template, context)
    except TemplateError as exc:
        raise RenderFailed(f"{exc.message} (template line {exc.line})") from None
    return compose_send(record, contact, config, rendered.subject, rendered.text, rendered.html, owner)


def compose_send(record: ActionRecord, contact: Contact, config: Config, subject: str | None, text: str,
                 html: str | None = None, owner: Mapping[str, Any] | None = None) -> OutMessage:
    """The OutMessage of a send whose text is already written (by a template
    or, for `renderer: llm`, by the model): recipient, payload, key."""
    channel = config.channels.get(record.channel or "")
    if channel is None:
        raise RenderFailed(f"unknown channel {record.channel!r}")
    to: str | None
    if channel.adapter == "smtp":
        to = _email_recipient(record, contact, channel.settings.recipient_field)
    else:
        to = recipient(record.to, contact, channel.adapter, channel.settings.recipient_field)
    payload = _payload(record, contact)
    payload["template"] = record.template
    if channel.adapter in ("task", "notify"):  # a message the contact's owner sends by hand
        payload["assignee"] = address_text(contact.fields.get("owner"))
    if record.offer is not None:
        percent = record.offer.get("percent")
        if isinstance(percent, float) and percent.is_integer():
            percent = int(percent)
        payload["offer"] = jsonable({"percent": percent, "expires": record.offer.get("expires")})
    values = (record.data or {}).get("with")
    if values:
        payload["with"] = jsonable(values)
    headers = {}
    if getattr(channel.settings, "sends_as_owner", False) and owner is not None and owner.get("email"):
        from email.utils import formataddr

        headers["From"] = formataddr((str(owner.get("name") or ""), str(owner["email"])))  # `from: owner`
    return OutMessage(key=idempotency_key(record), channel=channel.name, kind="send", to=to,
                      subject=subject, text=text, html=html, headers=headers, payload=payload)


def _stored(record: ActionRecord, contact: Contact, context: dict[str, Any]) -> OutMessage:
    """A task or notification: its text rendered, addressed to the assignee."""
    text = render_text(record.text or "", {"links": {}, **context}, record.kind)
    payload = _payload(record, contact)
    if record.kind == "task":
        payload["task"] = record.channel
        payload["due"] = jsonable(record.due)
    to = address_text(record.to)
    payload["assignee"] = to
    channel = record.channel if record.kind == "task" else "notify"
    return OutMessage(key=idempotency_key(record), channel=channel or record.kind, kind=record.kind, to=to,
                      subject=None, text=text, payload=payload)


def _payload(record: ActionRecord, contact: Contact) -> dict[str, Any]:
    return jsonable({
        "key": idempotency_key(record), "at": record.at, "playbook": record.playbook, "step": record.step,
        "enrollment": record.enrollment, "kind": record.kind, "contact": record.contact, "deal": record.deal,
        "contact_email": contact.fields.get("email"),
    })


def _email_recipient(record: ActionRecord, contact: Contact, field: str | None) -> str:
    """The one address an email goes to; RenderFailed when there is none, or more than one."""
    to = recipient(record.to, contact, "smtp", field)
    if not to:
        raise RenderFailed(f"contact {contact.id} has no email address to send to")
    try:
        one_address(to)
    except BadAddress as exc:
        whose = "the send's `to`" if address_text(record.to) else f"contact {contact.id}'s email"
        raise RenderFailed(f"{whose}: {exc}; nothing is sent") from None
    return to


# ---------------------------------------------------------------- task text

_TEXT_ENV = BudgetSandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


@functools.lru_cache(maxsize=512)
def _compiled(source: str) -> jinja2.Template:
    return _TEXT_ENV.from_string(source)


def render_text(source: str, context: Mapping[str, Any], what: str = "text") -> str:
    """A task or notify text with its `{{ ... }}` placeholders filled (sandboxed, strict)."""
    try:
        with budget():
            return _compiled(source).render(dict(context)).strip()
    except Exception as exc:  # noqa: BLE001 - any failure of user text in the sandbox
        message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
        raise RenderFailed(f"cannot render the {what} text: {message}") from None
