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
    seconds when the receiver said so); `failed` is permanent."""

    status: Status
    detail: str
    retry_after: float | None = None


class ChannelAdapter(Protocol):
    def deliver(self, msg: OutMessage) -> DeliveryResult: ...

    def close(self) -> None: ...


def delivered(detail: str = "delivered") -> DeliveryResult:
    return DeliveryResult("delivered", detail)


def retry(detail: str, retry_after: float | None = None) -> DeliveryResult:
    return DeliveryResult("retry", detail, retry_after)


def failed(detail: str) -> DeliveryResult:
    return DeliveryResult("failed", detail)


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
