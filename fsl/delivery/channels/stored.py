"""Adapters for channels whose messages are kept, not sent: `task`, `notify`, `log`.

The store keeps tasks and notifications (`fsl tasks` lists them) from the
outbox row itself; these adapters only confirm at once, so every channel
goes through the same outbox path with the same at-most-once key.  `log`
writes one line (never the text: it may hold personal data) for dry runs.
"""
from __future__ import annotations

import logging

from fsl.config import Channel

from ..message import OutMessage
from .base import DeliveryResult, delivered

log = logging.getLogger("fsl.delivery.log")


class StoredAdapter:
    """Delivered at once: the message is its own record."""

    def __init__(self, channel: Channel) -> None:
        self.name = channel.name
        self.adapter = channel.adapter

    def deliver(self, msg: OutMessage) -> DeliveryResult:
        if self.adapter == "log":
            log.info("channel %s: %s %s to %s (%s)", self.name, msg.kind, msg.payload.get("template") or "",
                     msg.payload.get("contact"), msg.key)
            return delivered("logged")
        who = f" for {msg.to}" if msg.to else ""
        return delivered(f"stored as a {self.adapter}{who}")

    def close(self) -> None:
        pass
