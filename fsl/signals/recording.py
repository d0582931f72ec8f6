"""A tracking hit becomes an event, recorded and applied before the answer (SIGNALS.md 1, 5).

The message a token names is read from the outbox (the `actions` row of its
key): the contact, the enrollment and the step come from there, never from
the request.  So does a click's target: link `i` of a message is the `i`-th
entry of its template's `links:` (in the order written), the URL the
message carried.  (When messages are rewritten at hand-over, the rewriter
numbers links the same way: `tokens.make(secret, key, i)`.)

Events are recorded through the runtime's `ingest_now`: the same event rows
`fsl event` writes, applied by the engine in the transaction that writes
them, so a stop, a pause or an unsubscribe has ended the enrollment and
withdrawn its unsent messages before the HTTP response.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

import sqlalchemy as sa

from fsl.engine.model import Event
from fsl.store.rows import parse_key
from fsl.store.schema import actions

EVENT_OF = {"click": "clicked", "open": "opened", "unsubscribe": "unsubscribed"}


class Ingesting(Protocol):
    """What recording needs of the runtime (fsl.runtime.runtime.Runtime)."""

    db: Any
    store: Any
    templates: Any

    def ingest_now(self, evs: list[Event], now: datetime | None = None, *,
                   prepare: Callable[[Any], list[Event]] | None = None, quiet_to_tick: bool = False) -> list[str]: ...

    def record_events(self, evs: list[Event]) -> int: ...


@dataclass(frozen=True)
class Message:
    """The sent (or queued) message a token names."""

    key: str
    enrollment: int | None
    contact: str | None
    deal: str | None
    step: str
    template: str | None


@dataclass(frozen=True)
class Link:
    tag: str
    url: str


def find_message(db: Any, key: str) -> Message | None:
    with db.read() as conn:
        row = conn.execute(sa.select(actions.c.key, actions.c.enrollment, actions.c.contact, actions.c.deal,
                                     actions.c.step, actions.c.template, actions.c.kind)
                           .where(actions.c.key == key)).mappings().first()
    if row is None or row["kind"] != "send":
        return None
    return Message(row["key"], row["enrollment"], row["contact"], row["deal"], row["step"], row["template"])


def find_messages(db: Any, keys: list[str]) -> dict[str, Message]:
    """`find_message` for many keys in one read (the requests of a group: fsl/signals/batching.py)."""
    a = actions.c
    found: dict[str, Message] = {}
    unique = sorted(set(keys))
    with db.read() as conn:
        for i in range(0, len(unique), 500):
            q = sa.select(a.key, a.enrollment, a.contact, a.deal, a.step, a.template).where(
                a.key.in_(unique[i:i + 500]), a.kind == "send")
            for r in conn.execute(q):
                found[r.key] = Message(r.key, r.enrollment, r.contact, r.deal, r.step, r.template)
    return found


def message_links(templates: Any, message: Message) -> list[Link]:
    """The message's trackable links, in order; [] when its template is gone or has none."""
    if not message.template or message.template not in templates:
        return []
    try:
        template = templates.lookup(message.template)
    except Exception:  # noqa: BLE001 - a template that no longer loads has no link to send anyone to
        return []
    return [Link(tag, url) for tag, url in template.links.items()]


def tracking_event(kind: str, message: Message, at: datetime, link: Link | None = None) -> Event:
    """The event a hit of `kind` (click, open, unsubscribe) on `message` records."""
    fields = {"link": link.tag} if link is not None else {}
    # (an unsubscribe names its message too: the engine applies it to all of the contact's enrollments)
    return Event(at=at.replace(microsecond=0), type=EVENT_OF[kind], contact=message.contact,
                 step=message.step, fields=fields, enrollment=message.enrollment, source="tracking")


def unmatched_event(kind: str, key: str, at: datetime) -> Event:
    """A hit with a valid token whose message the outbox no longer holds: kept, flagged
    `unknown_message` by the store and reported by `fsl status`, never dropped."""
    try:
        step = parse_key(key)[1]
    except ValueError:
        step = key
    return Event(at=at.replace(microsecond=0), type=EVENT_OF[kind], step=step)


def record(runtime: Ingesting, events: list[Event], now: datetime) -> list[str]:
    """Record and apply at once (see the module docstring); the engine's warnings.  An event
    dated in the future waits, pending, for the tick of its minute, as `fsl event` would."""
    later = [e for e in events if e.at > now]
    if later:
        runtime.record_events(later)
    due = [e for e in events if e.at <= now]
    return runtime.ingest_now(due, now) if due else []


def record_new(runtime: Ingesting, events: list[Event], now: datetime) -> tuple[list[str], list[Event]]:
    """`record` for the events the store does not hold yet, as `fsl events import` decides
    it (content, to the minute): a sender's retry of a batch records nothing twice.
    Returns (the engine's warnings, the events recorded now)."""
    from fsl.engine.timing import minute_floor
    from fsl.io.load import duplicates

    for e in events:
        e.at = minute_floor(e.at)
    with runtime.store.snapshot() as store:
        seen = duplicates(store.conn, events)
    fresh = [e for e, duplicate in zip(events, seen) if not duplicate]
    return (record(runtime, fresh, now) if fresh else []), fresh
