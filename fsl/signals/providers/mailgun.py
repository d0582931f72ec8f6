"""Mailgun's webhooks (SIGNALS.md 2).

Verification (documentation.mailgun.com/docs/mailgun/user-manual/webhooks/
securing-webhooks): the body carries `signature: {timestamp, token,
signature}`; `signature` is the hex HMAC-SHA256 of timestamp + token under the
webhook signing key (for a subaccount's domain, `parent-signature` under the
primary account's key is accepted too). A timestamp more than `max_age` seconds (default 300)
from now is refused.

Payload (.../webhooks/webhook-payloads): one event per request,
`{"signature": {...}, "event-data": {...}}`.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Mapping

from .common import (BadItem, BadSignature, Ignored, Parsed, ProviderEvent, angle_id, check_fresh,
                     load_json, need, obj, opt, parse_object, utc_from_epoch)

NAME = "mailgun"
_SIMPLE = {"delivered": "delivered", "opened": "opened", "clicked": "clicked", "unsubscribed": "unsubscribed",
           "complained": "complained"}


def verify(headers: Mapping[str, str], body: bytes, settings: Mapping[str, Any], now: datetime) -> None:
    key = settings.get("signing_key")
    if not isinstance(key, str) or not key:
        raise BadSignature("webhooks.mailgun.signing_key is not configured")
    try:
        sig = obj(obj(load_json(body), "the body").get("signature"), "`signature`")
        stamp, token, given = need(sig, "timestamp"), need(sig, "token"), need(sig, "signature")
    except BadItem as why:
        raise BadSignature(f"no signature: {why}") from None
    want = hmac.new(key.encode("utf-8"), (stamp + token).encode("utf-8"), hashlib.sha256).hexdigest()
    # a subaccount's events also carry `parent-signature`, made with the primary account's key
    parent = sig.get("parent-signature")
    candidates = [given] + ([parent] if isinstance(parent, str) else [])
    if not any(hmac.compare_digest(want, c.strip().lower()) for c in candidates):
        raise BadSignature("the signature does not match")
    check_fresh(stamp, now, settings)


def _type_and_fields(data: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    if name == "failed":
        status = data.get("delivery-status")
        status = status if isinstance(status, Mapping) else {}
        reason = str(status.get("description") or status.get("message") or data.get("reason") or "")
        severity = data.get("severity")
        if severity == "permanent":
            return "bounced", {"kind": "hard", "reason": reason}
        if severity == "temporary":
            return "deferred", {"reason": reason}
        raise BadItem("a `failed` event without severity permanent or temporary")
    if name not in _SIMPLE:
        raise Ignored(name)  # accepted, rejected, stored, list_member_uploaded, ...
    fields: dict[str, Any] = {}
    if name in ("opened", "clicked"):
        client = data.get("client-info")
        if isinstance(client, Mapping) and isinstance(client.get("bot"), str):
            fields["machine"] = client["bot"] != ""  # "apple", "gmail", "generic"; empty: no bot
    if name == "clicked":
        fields["url"] = need(data, "url")
    return _SIMPLE[name], fields


def _one(payload: Any) -> list[ProviderEvent]:
    data = obj(obj(payload, "the body").get("event-data"), "`event-data`")
    name = need(data, "event")
    typ, fields = _type_and_fields(data, name)
    at = utc_from_epoch(data.get("timestamp"))
    # `id` is unique only within a day (Mailgun's events API): with the event's
    # own second it is unique for good, and a retry repeats both
    event_id = f"{need(data, 'id')}:{int(at.timestamp())}"
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, Mapping) else None
    mid = opt(headers, "message-id") if isinstance(headers, Mapping) else None
    evidence = [f"mailgun event {name}"] + [f"{k} {data[k]}" for k in ("severity", "reason") if opt(data, k)]
    if "machine" in fields:
        evidence.append(f"client-info.bot {data['client-info']['bot'] or '(none)'}")
    bare = mid.strip("<>") if mid else None
    return [ProviderEvent(NAME, event_id, typ, at, angle_id(mid), bare, opt(data, "recipient"), fields,
                          (bare,) if bare else (), tuple(evidence))]


def parse(body: bytes) -> Parsed:
    return parse_object(body, _one)
