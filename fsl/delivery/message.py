"""The rendered message a channel adapter delivers, and its identifiers.

An `OutMessage` is self-contained: everything an adapter needs is in it, so
the outbox can store it (as JSON) and hand it to a channel later, from
another process, after a crash.  Its `key` is the action's idempotency key;
every identifier a channel sends downstream (the email `Message-ID`, the
webhook `Idempotency-Key`) is derived from it, so a retry after an unknown
outcome can be recognised as the same message by the receiver.
"""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import asdict, dataclass, field
from email.utils import parseaddr
from typing import Any

from fsl.engine.model import ActionRecord


@dataclass(frozen=True)
class OutMessage:
    """One message (send) or one stored item (task, notify), ready for a channel.

    `to` is the recipient (an address, a phone, a person for tasks and
    notifications) or None when the channel picks it from `payload`;
    `payload` is JSON-able context (playbook, step, contact, deal, template,
    offer, task kind, due, ...) for webhooks and the task list.
    """

    key: str
    channel: str
    kind: str  # send | task | notify
    to: str | None
    subject: str | None
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, for storing in the outbox."""
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> "OutMessage":
        return OutMessage(
            key=str(data["key"]), channel=str(data["channel"]), kind=str(data["kind"]),
            to=data.get("to"), subject=data.get("subject"), text=str(data.get("text") or ""),
            html=data.get("html"), headers=dict(data.get("headers") or {}),
            payload=dict(data.get("payload") or {}),
        )


def idempotency_key(record: ActionRecord) -> str:
    """`enrollment:step:iteration:action`, the key a channel sees at most once."""
    enrollment, step, iteration, action = record.key
    return f"{enrollment}:{step}:{iteration}:{action}"


def message_id(key: str, domain: str | None) -> str:
    """A deterministic RFC 5322 Message-ID for an idempotency key.

    `<DIGEST.ENROLLMENT.fsl@host>`: DIGEST is 32 hex digits of the key's
    SHA-256, ENROLLMENT the key's enrollment id in base 36.  The step names
    (`winback_offer`) stay out of recipients' headers; the enrollment id lets
    a reply be matched through the enrollment's few sends (`fsl.store.sent`)
    rather than an index on the Message-ID that every outbox write would pay
    for.  A key not of the `enrollment:step:iteration:action` form gets the
    older `<DIGEST.fsl@host>`.  `domain` is the domain of the channel's
    `from` (see `domain_of`); without one, `fsl.invalid`.
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    host = _clean_domain(domain) or "fsl.invalid"
    head, sep, _ = key.partition(":")
    if sep and head.isascii() and head.isdigit() and len(head) <= _MAX_ENROLLMENT_DIGITS:
        return f"<{digest}.{_base36(int(head))}.fsl@{host}>"
    return f"<{digest}.fsl@{host}>"


@dataclass(frozen=True)
class Reference:
    """What a Message-ID of ours names (`message_id`).  `enrollment` is None
    for the older form without it (messages sent before schema v15, and keys
    of another form), whose only way back to the send is the stored id."""

    message_id: str  # `<...>`, as the outbox stores it
    enrollment: int | None


_MAX_ENROLLMENT_DIGITS = 19  # a BIGINT
_NEW_FORM = re.compile(r"<([0-9a-f]{32})\.([0-9a-z]{1,13})\.fsl@([A-Za-z0-9.-]+)>")
_LEGACY_FORM = re.compile(r"<([0-9a-f]{32})\.fsl@([A-Za-z0-9.-]+)>")


def reference(value: str) -> Reference | None:
    """The send a Message-ID (with or without its brackets) of ours would name,
    or None when it is none of ours.  Only the form is checked: a reference
    is trusted once it equals, whole, the Message-ID stored with that send."""
    value = value.strip()
    if not value.startswith("<"):
        value = f"<{value}>"
    found = _NEW_FORM.fullmatch(value)
    if found is not None:
        return Reference(value, int(found.group(2), 36))
    if _LEGACY_FORM.fullmatch(value) is not None:
        return Reference(value, None)
    return None


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def domain_of(address: str | None) -> str | None:
    """The domain of an address such as `Ana Ruiz <ana@acme.example>`."""
    if not address:
        return None
    _, addr = parseaddr(address)
    if "@" not in addr:
        return None
    return _clean_domain(addr.rpartition("@")[2])


@functools.lru_cache(maxsize=256)
def _clean_domain(domain: str | None) -> str | None:
    """A domain usable in a msg-id: IDNA-encoded, only letters, digits, `-` and dots.

    Cached: a channel has one `from` domain, and this (IDNA codec, regex) cost
    more than the hash of every message id it is part of."""
    if not domain:
        return None
    try:
        domain = domain.strip().strip("[]").encode("idna").decode("ascii")
    except UnicodeError:
        pass
    cleaned = ".".join(p for p in re.split(r"[^A-Za-z0-9-]+", domain.strip().strip("[]")) if p)
    return cleaned.lower() or None
