"""The receiving server's verdict on a message, as the event it records.

SIGNALS.md section 2 and issue 12: a permanent refusal of the recipient or
the data (SMTP 5xx on RCPT or DATA) is a hard bounce; a temporary one (4xx)
is a deferral, retried with backoff, and a deferral still standing when the
retries run out is a soft bounce.  Only the server's reply about *this*
message counts (`DeliveryResult.reply`): a connection refused, a login
refused or our own sender refused say nothing about the contact's address,
and suppressing an address for our own outage would be wrong.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .channels.base import DeliveryResult
from .retry import Settlement


@dataclass(frozen=True)
class Verdict:
    """The event one hand-over records: `bounced` (kind hard or soft) or `deferred`."""

    event: str
    fields: dict[str, Any]

    @property
    def bounce(self) -> str | None:
        """`hard` or `soft` for a bounce (kept on the outbox row), None for a deferral."""
        return self.fields.get("kind") if self.event == "bounced" else None


def verdict(result: DeliveryResult, settlement: Settlement) -> Verdict | None:
    """What the server's answer to one attempt makes of the address, if anything.

    The last attempt decides a soft bounce: retries that ran out on a
    connection error (after earlier 4xx) are our trouble, not the address's."""
    if result.reply is None or result.status == "delivered":
        return None
    if result.status == "failed":
        return Verdict("bounced", {"kind": "hard"})
    if settlement.status == "retry":
        return Verdict("deferred", {"reason": result.reply})
    return Verdict("bounced", {"kind": "soft"})
