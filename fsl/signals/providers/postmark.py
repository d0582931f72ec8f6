"""Postmark's webhooks (SIGNALS.md 2).

Verification (postmarkapp.com/developer/webhooks/webhooks-overview): Postmark
signs nothing; a webhook is protected by HTTP basic credentials written into
its URL, which arrive as `Authorization: Basic ...`. They are compared in
constant time with `webhooks.postmark.username` / `password`.

Payload (postmarkapp.com/developer/webhooks/*-webhook): one JSON object per
request, its kind in `RecordType`: Delivery, Bounce, SpamComplaint, Open,
Click, SubscriptionChange. Postmark gives its events no id (a bounce has its
`ID`): the others are deduplicated by the hash of their content, which a retry
repeats.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from datetime import datetime
from typing import Any, Mapping

from .common import (BadSignature, Ignored, Parsed, ProviderEvent, content_id, header,
                     need, obj, opt, parse_object, utc_from_iso)

NAME = "postmark"

# bounce `Type`s (postmarkapp.com/developer/api/bounce-api#bounce-types) that say the address is gone
HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
# ... that are not a failure to deliver at all (an auto-reply, a challenge, a virus report)
NOT_FAILURES = frozenset({"Subscribe", "AutoResponder", "AddressChange", "OpenRelayTest", "VirusNotification",
                          "ChallengeVerification"})
COMPLAINTS = frozenset({"SpamComplaint", "SpamNotification"})
# the instant of each record type
_AT = {"Delivery": "DeliveredAt", "Bounce": "BouncedAt", "SpamComplaint": "BouncedAt", "Open": "ReceivedAt",
       "Click": "ReceivedAt", "SubscriptionChange": "ChangedAt"}


def verify(headers: Mapping[str, str], body: bytes, settings: Mapping[str, Any], now: datetime) -> None:
    user, password = settings.get("username"), settings.get("password")
    if not isinstance(user, str) or not isinstance(password, str) or not password:
        raise BadSignature("webhooks.postmark.username/password are not configured")
    auth = header(headers, "Authorization") or ""
    scheme, _, encoded = auth.strip().partition(" ")
    if scheme.lower() != "basic":
        raise BadSignature("no basic credentials")
    try:
        given_user, sep, given_password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadSignature("unreadable basic credentials") from None
    # both compared, whatever the first gives: the time taken says nothing about either
    ok_user = hmac.compare_digest(given_user.encode("utf-8"), user.encode("utf-8"))
    ok_password = hmac.compare_digest(given_password.encode("utf-8"), password.encode("utf-8"))
    if not (sep and ok_user and ok_password):
        raise BadSignature("wrong credentials")


def _bounce(item: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    kind = need(item, "Type")
    reason = str(item.get("Description") or item.get("Details") or kind)
    if kind in COMPLAINTS:
        return "complained", {}
    if kind == "Unsubscribe":
        return "unsubscribed", {}
    if kind in NOT_FAILURES:
        raise Ignored(f"Bounce {kind}")
    # Inactive: Postmark deactivated the address and will not send to it again
    if kind in HARD or item.get("Inactive") is True:
        return "bounced", {"kind": "hard", "reason": reason}
    return "deferred", {"reason": f"{kind}: {reason}" if reason != kind else kind}


def _type_and_fields(item: Mapping[str, Any], record: str) -> tuple[str, dict[str, Any]]:
    if record == "Delivery":
        return "delivered", {}
    if record == "Bounce":
        return _bounce(item)
    if record == "SpamComplaint":
        return "complained", {}
    if record == "Open":
        return "opened", {}
    if record == "Click":
        return "clicked", {"url": need(item, "OriginalLink")}
    if record == "SubscriptionChange":
        # a recipient's own unsubscribe; suppressions Postmark adds after a
        # bounce or complaint repeat an event already reported, reactivations undo nothing here
        if item.get("SuppressSending") is True and item.get("SuppressionReason") == "ManualSuppression":
            return "unsubscribed", {}
        raise Ignored(f"SubscriptionChange {item.get('SuppressionReason')}")
    raise Ignored(record)


def _one(item: Any) -> list[ProviderEvent]:
    item = obj(item, "the body")
    record = need(item, "RecordType")
    typ, fields = _type_and_fields(item, record)
    at = utc_from_iso(item.get(_AT[record]), _AT[record])
    bounce_id = item.get("ID")
    if record in ("Bounce", "SpamComplaint") and isinstance(bounce_id, int) and not isinstance(bounce_id, bool):
        event_id = f"{record}:{bounce_id}"
    else:
        event_id = content_id(NAME, item)
    pmid = need(item, "MessageID")
    recipient = opt(item, "Email") or opt(item, "Recipient")
    evidence = [f"postmark {record}"] + ([f"Type {item['Type']}"] if opt(item, "Type") else [])
    return [ProviderEvent(NAME, event_id, typ, at, None, pmid, recipient, fields, (pmid,), tuple(evidence))]


def parse(body: bytes) -> Parsed:
    return parse_object(body, _one)
