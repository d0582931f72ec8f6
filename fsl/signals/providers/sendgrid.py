"""SendGrid's Event Webhook (SIGNALS.md 2).

Verification (twilio.com/docs/sendgrid/for-developers/tracking-events/
getting-started-event-webhook-security-features): ECDSA P-256 with SHA-256
over the `X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw
body; the signature is base64 DER in `X-Twilio-Email-Event-Webhook-Signature`,
the key the account's public key (base64 DER SubjectPublicKeyInfo, as SendGrid
shows it; PEM is accepted too). A timestamp more than `max_age` seconds
(default 300) from now is refused: a captured request cannot be replayed later.

Payload (.../tracking-events/event): a JSON array of event objects.
"""
from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .common import (BadItem, BadSignature, Ignored, ItemError, Parsed, ProviderEvent, angle_id, check_fresh, header,
                     load_json, need, obj, opt, parse_items, utc_from_epoch)

NAME = "sendgrid"
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"

_SIMPLE = {"delivered": "delivered", "open": "opened", "click": "clicked", "spamreport": "complained",
           "unsubscribe": "unsubscribed", "group_unsubscribe": "unsubscribed", "deferred": "deferred"}


def _public_key(settings: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    raw = settings.get("public_key")
    if not isinstance(raw, str) or not raw.strip():
        raise BadSignature("webhooks.sendgrid.public_key is not configured")
    try:
        if "BEGIN PUBLIC KEY" in raw:
            key = serialization.load_pem_public_key(raw.encode("ascii"))
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(raw.split()), validate=True))
    except (ValueError, binascii.Error, TypeError):
        raise BadSignature("webhooks.sendgrid.public_key is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadSignature("webhooks.sendgrid.public_key is not an elliptic-curve key")
    return key


def verify(headers: Mapping[str, str], body: bytes, settings: Mapping[str, Any], now: datetime) -> None:
    key = _public_key(settings)
    sig, stamp = header(headers, SIGNATURE), header(headers, TIMESTAMP)
    if not sig or not stamp:
        raise BadSignature(f"missing {SIGNATURE} or {TIMESTAMP}")
    try:
        key.verify(base64.b64decode(sig.strip(), validate=True), stamp.encode("utf-8") + body,
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise BadSignature("the signature does not match") from None
    check_fresh(stamp, now, settings)


def handover_ids(sg_message_id: str) -> tuple[str, ...]:
    """`sg_message_id` is the X-Message-Id SendGrid's SMTP relay answers with
    (`250 Ok: queued as <id>`) followed by `.filter...`/`.recvd...` routing parts."""
    head = re.split(r"\.(?:filter|recvd)", sg_message_id, maxsplit=1)[0]
    return (sg_message_id,) if head == sg_message_id else (sg_message_id, head)


def _dropped(reason: str) -> tuple[str, dict[str, Any]]:
    """SendGrid did not send the message; its `reason` says why (the event reference's list)."""
    if reason in ("Bounced Address", "Invalid"):  # the address is known bad
        return "bounced", {"kind": "hard", "reason": f"dropped: {reason}"}
    if reason == "Unsubscribed Address":
        return "unsubscribed", {}
    if reason == "Spam Reporting Address":
        return "complained", {}
    # the account's or the message's problem (quota, content, SMTPAPI header): not the address's
    return "deferred", {"reason": f"dropped: {reason or 'no reason given'}"}


def _type_and_fields(item: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    if name == "bounce":
        # `type` is "bounce" (the server refused the address for good) or "blocked"
        # (refused this message, e.g. for reputation: temporary for the address)
        kind = item.get("type", "bounce")
        reason = str(item.get("reason") or item.get("status") or "")
        if kind == "blocked":
            return "deferred", {"reason": reason or "blocked"}
        return "bounced", {"kind": "hard", "reason": reason}
    if name == "dropped":
        return _dropped(str(item.get("reason") or ""))
    if name not in _SIMPLE:
        raise Ignored(name)
    fields: dict[str, Any] = {}
    if name == "open" and isinstance(item.get("sg_machine_open"), bool):
        fields["machine"] = item["sg_machine_open"]
    if name == "click":
        fields["url"] = need(item, "url")
    if name == "deferred":
        fields["reason"] = str(item.get("response") or "")
    return _SIMPLE[name], fields


def _one(item: Any) -> list[ProviderEvent]:
    item = obj(item, "the event")
    name = need(item, "event")
    typ, fields = _type_and_fields(item, name)
    event_id = need(item, "sg_event_id")
    pmid = opt(item, "sg_message_id")
    evidence = [f"sendgrid event {name}"] + [f"{k} {item[k]}" for k in ("type", "status", "sg_machine_open")
                                              if k in item and isinstance(item[k], (str, bool, int))]
    return [ProviderEvent(
        NAME, event_id, typ, utc_from_epoch(item.get("timestamp")), angle_id(opt(item, "smtp-id")), pmid,
        opt(item, "email"), fields, handover_ids(pmid) if pmid else (), tuple(evidence))]


def parse(body: bytes) -> Parsed:
    try:
        items = load_json(body)
    except BadItem as why:
        return Parsed(errors=(ItemError(None, str(why)),))
    if not isinstance(items, list):
        return Parsed(errors=(ItemError(None, "the body is not a JSON array of events"),))
    return parse_items(items, _one)
