"""Values in and out of the database: instants as integers, data as JSON.

Instants that the runtime sorts and compares in SQL (wake-ups, due
deliveries, event times) are stored as integer seconds since the epoch,
UTC: the same type, index and ordering on SQLite and PostgreSQL, and cheap to
compare.  Everything else (contact fields, enrollment state, action
payloads) is JSON text, written by us rather than by a dialect's JSON type so
that both databases store the same bytes and the values the engine uses
(aware datetimes, dates, durations) survive the round trip: they are tagged
as `{"$t": iso}`, `{"$d": date}`, `{"$dur": [amount, unit]}`.

The JSON goes through orjson: a tick encodes and decodes an enrollment's
state, an action payload and a contact's fields for every step.  Measured
on an enrollment state: 3.5 µs to decode with the standard library's
`object_hook`, 0.8 µs with orjson; 6.5 µs to encode with a `default` per
datetime, 3.2 µs with orjson.  orjson has
no object hook, so decoding walks the value for tags only when the text can
hold one (it contains `"$`).

Integers beyond 64 bits: orjson refuses to write them and would read them
back as floats.  `dumps` then falls back to the standard library and ends
the text with a space (still JSON, for SQLite's json functions and
PostgreSQL's jsonb alike), and `loads` sends a text ending with a space to
the standard library: such a number comes back exact.  Migration 4
(migrations.py) marks the texts an older fsl wrote.  A text orjson cannot
parse at all (the `NaN` the standard library wrote) is read by the standard
library too.  One difference on purpose: orjson writes a float NaN or
infinity as `null` (the standard library wrote `NaN`, which is not JSON and
which PostgreSQL's jsonb rejects).
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

import orjson

from fsl.engine.evaluate import Dur

UTC = timezone.utc


def epoch(t: datetime | None) -> int | None:
    """An instant as whole seconds since the epoch (a naive instant is UTC)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    # timestamp() is exact to the microsecond at these magnitudes; floor, not int(), before 1970
    return math.floor(t.timestamp())


def instant(s: int | None) -> datetime | None:
    """Seconds since the epoch -> an aware UTC datetime."""
    if s is None:
        return None
    return _instant(int(s))


@lru_cache(maxsize=4096)
def _instant(s: int) -> datetime:
    # A batch reads the same few instants over and over (the wake-up minute,
    # start times): datetimes are immutable, so one object serves them all.
    return datetime.fromtimestamp(s, UTC)


def iso(t: datetime | None) -> str | None:
    """An instant as ISO text in UTC (untagged: for fields known to hold instants, rows.py)."""
    if t is None:
        return None
    if t.tzinfo is not UTC:
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.isoformat()


def from_iso(value: Any) -> datetime | None:
    """The inverse of `iso`; also takes a value already decoded from a tag (older rows)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$t": iso(value)}
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


def _untag(value: Any) -> Any:
    """`_hook` applied bottom-up, as the standard library's object_hook would."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                value[k] = _untag(v)
        return _hook(value)
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)):
                value[i] = _untag(v)
    return value


# datetimes and dataclasses (Dur) go to _default to be tagged; int keys become text as before
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_hook)


SLOW_PATH = " "  # the end of a text only the standard library reads exactly (integers beyond 64 bits)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value) + SLOW_PATH


def loads(text: str | None) -> Any:
    if text is None or text == "":
        return None
    if text[-1] == SLOW_PATH:
        return _DECODER.decode(text)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _DECODER.decode(text)
    return _untag(value) if '"$' in text else value


def needs_slow_path(text: str) -> bool:
    """Whether a text written without the mark holds an integer orjson would
    read as a float: `dumps` would write its value with the mark today."""
    try:
        return dumps(json.loads(text)).endswith(SLOW_PATH)
    except ValueError:
        return False
