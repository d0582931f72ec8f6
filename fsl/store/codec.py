"""Values in and out of the database: instants as integers, data as JSON.

Instants that the runtime sorts and compares in SQL (wake-ups, due
deliveries, event times) are stored as integer seconds since the epoch,
UTC: the same type, index and ordering on SQLite and PostgreSQL, and cheap to
compare.  Everything else (contact fields, enrollment state, action
payloads) is JSON text, written by us rather than by a dialect's JSON type so
that both databases store the same bytes and the values the engine uses
(aware datetimes, dates, durations) survive the round trip: they are tagged
as `{"$t": iso}`, `{"$d": date}`, `{"$dur": [amount, unit]}`.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any

from fsl.runtime.evaluate import Dur

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch(t: datetime | None) -> int | None:
    """An instant as whole seconds since the epoch (a naive instant is UTC)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int((t - _EPOCH).total_seconds() // 1)


def instant(s: int | None) -> datetime | None:
    """Seconds since the epoch -> an aware UTC datetime."""
    if s is None:
        return None
    return datetime.fromtimestamp(int(s), UTC)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return {"$t": t.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Dur):
        return {"$dur": [value.amount, value.unit]}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)  # never fail a write on an exotic value: keep its text


def _hook(obj: dict) -> Any:
    if len(obj) == 1:
        if "$t" in obj:
            return datetime.fromisoformat(obj["$t"])
        if "$d" in obj:
            return date.fromisoformat(obj["$d"])
        if "$dur" in obj:
            amount, unit = obj["$dur"]
            return Dur(amount, unit)
    return obj


_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_hook)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def loads(text: str | None) -> Any:
    if text is None or text == "":
        return None
    return _DECODER.decode(text)
