"""The identity of an imported event, so importing a file twice stores each event once.

Contacts and deals have ids; events do not.  An event's key is its `id`
when the line gives one, else a hash of what it says (instant, type,
contact, deal, step, fields): two lines that say exactly the same thing are
the same event.  A source that can report the same thing twice on purpose
(two identical clicks in one second) gives ids.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from typing import Any

from fsl.engine.model import Event


def event_key(event: Event, explicit: str | None = None) -> str:
    if explicit:
        return f"id:{explicit}"
    body = {"at": _hashable(event.at), "type": event.type, "contact": event.contact, "deal": event.deal,
            "step": event.step, "fields": _hashable(event.fields)}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate (JSON's "\ud800") hashes too; any other text as plain UTF-8
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _hashable(value: Any) -> Any:
    """The event as the key hashes it.  Not delivery.context.jsonable: instants
    keep microseconds and `+00:00` here, since changing this text would change
    the key of every stored event and let a re-import add them again."""
    if isinstance(value, datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return t.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _hashable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hashable(v) for v in value]
    return value
