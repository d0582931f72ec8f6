"""Amazon SES events, delivered through an Amazon SNS topic (SIGNALS.md 2).

`verify` checks the SNS envelope (`sns.py`) and that its `TopicArn` is
`webhooks.ses.topic_arn`. `parse` reads the SES record in the envelope's
`Message` (docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
and notification-contents.html): `eventType` (event publishing) or
`notificationType` (identity notifications). A SubscriptionConfirmation gives
no event but `Parsed.confirm_url`: the app confirms the subscription by a GET
of it (only after `verify`, and only to an SNS host: see `confirm_url_allowed`).
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

from . import sns
from .common import (BadItem, BadSignature, Ignored, ItemError, Parsed, ProviderEvent, angle_id, load_json, need, obj,
                     opt, parse_items, utc_from_iso)

NAME = "ses"


def verify(headers: Mapping[str, str], body: bytes, settings: Mapping[str, Any], now: datetime, *,
           certificates: sns.CertificateCache | None = None) -> None:
    topic = settings.get("topic_arn")
    if not isinstance(topic, str) or not topic:
        raise BadSignature("webhooks.ses.topic_arn is not configured")
    try:
        message = obj(load_json(body), "the body")
    except BadItem as why:
        raise BadSignature(f"not an SNS message: {why}") from None
    if message.get("TopicArn") != topic:
        raise BadSignature("the message is not from the configured topic")
    sns.verify_message(message, now, certificates or sns.DEFAULT_CERTIFICATES)


def confirm_url_allowed(url: str) -> bool:
    """A SubscribeURL the app may GET: https on an SNS host (it is signed, but checked all the same)."""
    parts = urlsplit(url)
    return parts.scheme == "https" and re.fullmatch(r"sns\.[a-z0-9-]+\.amazonaws\.com", parts.netloc) is not None


def _bounce(record: Mapping[str, Any]) -> tuple[str, dict[str, Any], Mapping[str, Any], list[Any]]:
    bounce = obj(record.get("bounce"), "`bounce`")
    kind = bounce.get("bounceType")
    if kind not in ("Permanent", "Transient", "Undetermined"):
        raise BadItem("`bounce.bounceType` is not Permanent, Transient or Undetermined")
    sub = bounce.get("bounceSubType")
    reason = f"{kind}/{sub}" if isinstance(sub, str) and sub else str(kind)
    # Permanent: the address is gone; Transient and Undetermined may yet pass
    fields = {"kind": "hard", "reason": reason} if kind == "Permanent" else {"reason": reason}
    return "bounced" if kind == "Permanent" else "deferred", fields, bounce, _recipients(bounce, "bouncedRecipients")


def _recipients(detail: Mapping[str, Any], key: str) -> list[Any]:
    """The recipients an SES record names (one event each), or [None]: the message as a whole."""
    found = detail.get(key)
    return found if isinstance(found, list) and found else [None]


def _kind(record: Mapping[str, Any]) -> tuple[str, dict[str, Any], Mapping[str, Any], list[Any]]:
    """(FSL type, fields, the SES detail object, the recipients it concerns)."""
    name = opt(record, "eventType") or opt(record, "notificationType")
    if name == "Bounce":
        return _bounce(record)
    if name == "Complaint":
        complaint = obj(record.get("complaint"), "`complaint`")
        if complaint.get("complaintFeedbackType") == "not-spam":
            raise Ignored("Complaint not-spam")
        return "complained", {}, complaint, _recipients(complaint, "complainedRecipients")
    if name == "Delivery":
        delivery = obj(record.get("delivery"), "`delivery`")
        return "delivered", {}, delivery, _recipients(delivery, "recipients")
    if name == "DeliveryDelay":
        delay = obj(record.get("deliveryDelay"), "`deliveryDelay`")
        return "deferred", {"reason": str(delay.get("delayType") or "delay")}, delay, _recipients(
            delay, "delayedRecipients")
    if name == "Open":
        return "opened", {}, obj(record.get("open"), "`open`"), [None]
    if name == "Click":
        click = obj(record.get("click"), "`click`")
        return "clicked", {"url": need(click, "link")}, click, [None]
    if name == "Subscription":
        sub = obj(record.get("subscription"), "`subscription`")
        prefs = sub.get("newTopicPreferences")
        if isinstance(prefs, Mapping) and prefs.get("unsubscribeAll") is True:
            return "unsubscribed", {}, sub, [None]
        raise Ignored("Subscription without unsubscribeAll")
    raise Ignored(str(name))  # Send, Reject, Rendering Failure, or unknown


def _address(recipient: Any) -> str | None:
    if isinstance(recipient, Mapping):
        return opt(recipient, "emailAddress")
    return recipient if isinstance(recipient, str) and recipient else None


def _events(envelope: Mapping[str, Any], record: Mapping[str, Any]) -> list[ProviderEvent]:
    typ, fields, detail, recipients = _kind(record)
    mail = obj(record.get("mail"), "`mail`")
    ses_id = need(mail, "messageId")
    common = mail.get("commonHeaders")
    ours = angle_id(opt(common, "messageId")) if isinstance(common, Mapping) else None
    at = utc_from_iso(detail.get("timestamp") or envelope.get("Timestamp"), "timestamp")
    sns_id = need(envelope, "MessageId")
    name = opt(record, "eventType") or opt(record, "notificationType")
    out = []
    for recipient in recipients:
        address = _address(recipient)
        f = dict(fields)
        if isinstance(recipient, Mapping) and opt(recipient, "diagnosticCode"):
            f["reason"] = f"{f.get('reason', '')}: {recipient['diagnosticCode']}".lstrip(": ")
        event_id = sns_id if len(recipients) == 1 else f"{sns_id}:{address}"
        out.append(ProviderEvent(NAME, event_id, typ, at, ours, ses_id, address, f, (ses_id,),
                                 (f"ses {name}",) + ((f"reason {f['reason']}",) if "reason" in f else ())))
    return out


def parse(body: bytes) -> Parsed:
    try:
        envelope = obj(load_json(body), "the body")
    except BadItem as why:
        return Parsed(errors=(ItemError(None, str(why)),))
    kind = envelope.get("Type")
    if kind == "SubscriptionConfirmation":
        url = envelope.get("SubscribeURL")
        if isinstance(url, str) and confirm_url_allowed(url):
            return Parsed(confirm_url=url)
        return Parsed(errors=(ItemError(None, "SubscribeURL is not an Amazon SNS URL"),))
    if kind == "UnsubscribeConfirmation":
        return Parsed(ignored=((0, "UnsubscribeConfirmation"),))
    if kind != "Notification":
        return Parsed(errors=(ItemError(None, f"unknown SNS message type {kind!r}"),))

    def one(message: Any) -> list[ProviderEvent]:
        if not isinstance(message, str):
            raise BadItem("`Message` is not a string")
        try:
            record = json.loads(message)
        except ValueError:
            raise BadItem("`Message` is not an SES event record (not JSON)") from None
        return _events(envelope, obj(record, "the SES record"))

    return parse_items([envelope.get("Message")], one)
