"""Tracked email at hand-over: the signed URLs, and the message's links kept in the store.

The outbox (fsl.runtime.outbox) calls, for a send on a channel with
`tracking: on`:

    tracker = tracker_for(config, channel)          # None: tracking off, or no server configured
    tracked = fsl.delivery.tracking.track(msg, tracker, template.links)
    remember(db, tracked, handed_at_ms)              # committed BEFORE the channel sees the message

How a click finds its URL (the decision, docs/DECISIONS.md "Tracked links"):
the list of the message's URLs is kept in `tracked_messages`, keyed by the
outbox key; the token carries only the key and the link's index.  URLs
cannot go in the token: a signed token is readable (base64), and a URL may
carry contact data (`?email=...`), which SIGNALS.md forbids in clear in a
tracking URL.  The list is written before the hand-over, so even a scanner
that fetches the links a millisecond after the SMTP server accepted the
message finds them.  A retry re-renders and replaces the list (and the
hand-over instant): the message a recipient can hold is the last one
handed over.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import sqlalchemy as sa

from fsl.delivery.tracking import Tracked
from fsl.store.db import upsert
from fsl.store.schema import tracked_messages

from . import tokens


@dataclass(frozen=True)
class TokenTracker:
    """`fsl.delivery.tracking.Tracker` over the signed tokens of fsl.signals.tokens."""

    base_url: str
    secret: str
    mailto: str | None = None

    def click_url(self, key: str, index: int) -> str:
        return f"{self.base_url}/c/{tokens.make(self.secret, key, index)}"

    def open_url(self, key: str) -> str:
        return f"{self.base_url}/o/{tokens.make(self.secret, key, kind='open')}"

    def unsubscribe_url(self, key: str) -> str:
        return f"{self.base_url}/u/{tokens.make(self.secret, key, kind='unsubscribe')}"

    def unsubscribe_mailto(self) -> str | None:
        return self.mailto


class TrackingUnavailable(Exception):
    """A channel tracks, but the server's base_url or secret is unset: its sends wait."""


def tracker_for(config: Any, channel_name: str | None) -> TokenTracker | None:
    """The tracker of a channel with `tracking: on`; None when it does not track.  Raises
    TrackingUnavailable when it tracks without `server.base_url` and `server.secret` (an
    unset ${ENV}): such a message is never sent untracked, without its unsubscribe link."""
    channel = config.channels.get(channel_name or "")
    if channel is None or not getattr(channel.settings, "tracking", False):
        return None
    server = getattr(config, "server", None)
    if server is None or not server.base_url or not server.secret:
        raise TrackingUnavailable(f"channel `{channel.name}` has tracking on, but `server.base_url` or "
                                  "`server.secret` is not set (is its ${ENV} variable unset?)")
    settings = channel.settings
    address = parseaddr(getattr(settings, "reply_to", None) or getattr(settings, "sender", None) or "")[1]
    return TokenTracker(server.base_url, server.secret, address or None)


def unsubscribe_url_for(config: Any, channel_name: str | None, key: str) -> str | None:
    """`{{ unsubscribe_url }}` of a message, for renders that hand nothing over (`fsl render`,
    a review's retry); None when the channel does not track or cannot yet."""
    try:
        tracker = tracker_for(config, channel_name)
    except TrackingUnavailable:
        return None
    return tracker.unsubscribe_url(key) if tracker is not None else None


@dataclass(frozen=True)
class TrackedMessage:
    key: str
    links: list[tuple[str | None, str]]
    trap: int
    handed_at_ms: int


def remember(db: Any, tracked: Tracked, handed_at_ms: int) -> None:
    """Keep the message's links and the instant it is handed over (before it is)."""
    row = {"key": tracked.message.key, "links": json.dumps([list(link) for link in tracked.links]),
           "trap": tracked.trap, "handed_at_ms": handed_at_ms}
    with db.write() as conn:
        conn.execute(upsert(db, tracked_messages, ["key"], ["links", "trap", "handed_at_ms"]), [row])


_KEPT = sa.select(tracked_messages).where(tracked_messages.c.key.in_(sa.bindparam("keys", expanding=True)))


def recall(conn: Any, key: str) -> TrackedMessage | None:
    return recall_all(conn, [key]).get(key)


def recall_all(conn: Any, keys: list[str]) -> dict[str, TrackedMessage]:
    """The kept links of the messages among `keys` that were handed over with them, by key."""
    found: dict[str, TrackedMessage] = {}
    for i in range(0, len(keys), 500):
        for row in conn.execute(_KEPT, {"keys": keys[i:i + 500]}).mappings():
            links = [(tag, str(url)) for tag, url in json.loads(row["links"])]
            found[row["key"]] = TrackedMessage(row["key"], links, int(row["trap"]), int(row["handed_at_ms"]))
    return found
