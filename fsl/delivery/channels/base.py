"""The adapter contract and the helpers every adapter shares."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

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
