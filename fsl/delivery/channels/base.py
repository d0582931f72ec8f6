"""The adapter contract and the helpers every adapter shares."""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterable, Literal, Protocol

from ..message import OutMessage

Status = Literal["delivered", "retry", "failed"]


@dataclass(frozen=True)
class DeliveryResult:
    """`retry` asks to come back later (at the earliest after `retry_after`
    seconds when the receiver said so); `failed` is permanent.

    `reply` is the receiving server's own answer about this message, when it
    gave one: with `delivered` its acceptance (SMTP's final reply to DATA,
    the provider's reference for the message); with `retry` or `failed` its
    refusal of the recipient or of the data, which makes the outcome a
    bounce (fsl.delivery.verdict).  None for anything about the session
    (connection, login, our sender), which says nothing of the address."""

    status: Status
    detail: str
    retry_after: float | None = None
    reply: str | None = None


class ChannelAdapter(Protocol):
    def deliver(self, msg: OutMessage) -> DeliveryResult: ...

    def close(self) -> None: ...


def delivered(detail: str = "delivered", reply: str | None = None) -> DeliveryResult:
    return DeliveryResult("delivered", detail, reply=reply)


def retry(detail: str, retry_after: float | None = None, reply: str | None = None) -> DeliveryResult:
    return DeliveryResult("retry", detail, retry_after, reply)


def failed(detail: str, reply: str | None = None) -> DeliveryResult:
    return DeliveryResult("failed", detail, reply=reply)


class Redactor:
    """Removes known secrets from text before it becomes a detail or a log line.

    Besides each secret as written, its base64 form is removed (AUTH PLAIN
    and LOGIN send credentials base64-encoded, and a server may echo them).
    """

    def __init__(self, secrets: Iterable[Any]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret is None or isinstance(secret, bool):
                continue
            text = str(secret)
            if len(text) < 3:  # too short to redact without mangling ordinary words
                continue
            forms.add(text)
            forms.add(base64.b64encode(text.encode("utf-8")).decode("ascii").rstrip("="))
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str, limit: int = 300) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        text = " ".join(text.split())
        return text if len(text) <= limit else text[: limit - 1] + "…"
