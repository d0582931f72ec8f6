"""Values in and out of the database: instants as integers, data as JSON.

Instants that the runtime sorts and compares in SQL (wake-ups, due
deliveries, event times) are stored as integer seconds since the epoch,
UTC: the same type, index and ordering on SQLite and PostgreSQL, and cheap to
compare.  Everything else (contact fields, enrollment state, action
payloads) is JSON text, written by us rather than by a dialect's JSON type so
that both databases store the same bytes and the values the engine uses
(aware datetimes, dates, durations) survive the round trip: they are tagged
as `{"$t": stored_iso}`, `{"$d": date}`, `{"$dur": [amount, unit]}`.

User data is never read as a tag: a key starting with `$` is written with
one `$` more (`{"$t": "vip"}` -> `{"$$t": "vip"}`) and loses it when read.
Finding such keys costs no walk: the `default` that writes the tags counts
them, each puts exactly one `"$` in the text, and only a text with more
(a user key or string starting with `$`) is written again from an escaped
copy.  Tags are read leniently (what is not a valid instant, date or duration
stays a dict), so rows an older fsl wrote with user data shaped like a tag
read as that data; the older texts with `$$` keys are rewritten by
migration 5.  Measured (per call, best of 40 x 2,000): an enrollment state
0.60 -> 0.75 µs to encode, 1.12 -> 0.85 µs to decode; contact fields with an
instant 1.35 -> 1.84 µs / 2.32 -> 2.50 µs ('$' is searched first: one memchr,
where '"$' is slow to search in text full of quotes).

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
(migrations/v4.py) marks the texts an older fsl wrote.  A text orjson cannot
parse at all (the `NaN` the standard library wrote) is read by the standard
library too.  One difference on purpose: orjson writes a float NaN or
infinity as `null` (the standard library wrote `NaN`, which is not JSON and
which PostgreSQL's jsonb rejects).
"""
from __future__ import annotations

import json
import math
import operator
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any, Sequence, overload

import orjson

from fsl.engine.evaluate import Dur
from fsl.rowdicts import dicts

UTC = timezone.utc


# The overloads tell mypy that only a missing instant comes back missing: most
# columns are NOT NULL, and their values need no check for None.
@overload
def epoch(t: datetime) -> int: ...
@overload
def epoch(t: None) -> None: ...
@overload
def epoch(t: datetime | None) -> int | None: ...
def epoch(t: datetime | None) -> int | None:
    """An instant as whole seconds since the epoch (a naive instant is UTC)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    # timestamp() is exact to the microsecond at these magnitudes; floor, not int(), before 1970
    return math.floor(t.timestamp())


@overload
def instant(s: int) -> datetime: ...
@overload
def instant(s: None) -> None: ...
@overload
def instant(s: int | None) -> datetime | None: ...
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


def stored_iso(t: datetime | None) -> str | None:
    """An instant as the store keeps it: exact ISO text in UTC, microseconds and
    `+00:00` (untagged: for fields known to hold instants, rows.py).  Not the
    display form (fsl.timecalc.iso), which drops what a reader does not need."""
    if t is None:
        return None
    if t.tzinfo is not UTC:
        t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.isoformat()


def from_iso(value: Any) -> datetime | None:
    """The inverse of `stored_iso`; also takes a value already decoded from a tag (older rows)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$t": stored_iso(value)}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Dur):
        return {"$dur": [value.amount, value.unit]}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)  # never fail a write on an exotic value: keep its text


_UNITS = frozenset(("seconds", "minutes", "hours", "days", "weeks", "business_days"))


def _tagged(obj: dict) -> Any:
    """The value a one-key dict tags, or `obj` itself when it is not one of
    our tags.  Lenient on purpose: a row written before user keys were escaped
    may hold user data shaped like a tag ({"$t": "vip"}); what is not a valid
    tag is that data, not an error."""
    try:
        if "$t" in obj:
            v = obj["$t"]
            return datetime.fromisoformat(v) if type(v) is str else obj
        if "$d" in obj:
            v = obj["$d"]
            return date.fromisoformat(v) if type(v) is str else obj
        if "$dur" in obj:
            v = obj["$dur"]
            if type(v) is list and len(v) == 2 and type(v[0]) in (int, float) and v[1] in _UNITS:
                return Dur(v[0], v[1])
    except (ValueError, TypeError):
        pass
    return obj


def _hook(obj: dict) -> Any:
    if len(obj) == 1:
        value = _tagged(obj)
        if value is not obj:
            return value
    for k in obj:
        if k[:2] == "$$":
            return _unescaped(obj)
    return obj


def _unescaped(obj: dict) -> dict:
    """A user dict whose `$` keys were escaped by `_escaped` (one `$` more)."""
    return {(k[1:] if k[:2] == "$$" else k): v for k, v in obj.items()}


def _untag(value: Any, escaped: bool) -> Any:
    """`_hook` applied bottom-up, as the standard library's object_hook would;
    keys are unescaped only when the text holds one (`escaped`)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                value[k] = _untag(v, escaped)
        if escaped:
            return _hook(value)
        return _tagged(value) if len(value) == 1 else value
    if isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)):
                value[i] = _untag(v, escaped)
    return value


def _escaped(value: Any) -> Any:
    """A copy of user data in which every key starting with `$` has one `$`
    more, so that no user dict reads as a tag: `{"$t": "vip"}` is written
    `{"$$t": "vip"}`.  Only keys: values (and SQL reading them) are exact."""
    if isinstance(value, dict):
        return {(("$" + k) if type(k) is str and k[:1] == "$" else k): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_escaped(v) for v in value]
    return value


class _Tags:
    """orjson's `default`, counting the tags it writes: each puts exactly one
    `"$` in the text, so any other `"$` means user data starts with `$`."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, value: Any) -> Any:
        out = _default(value)
        if type(out) is dict:
            self.n += 1
        return out


# datetimes and dataclasses (Dur) go to _default to be tagged; int keys become text as before
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_hook)
# The exact path writes ASCII: a lone surrogate (valid in a Python str, from
# JSON input's "\ud800") cannot be stored as UTF-8 text, its escape can.
_EXACT = json.JSONEncoder(default=_default, ensure_ascii=True, separators=(",", ":"))


SLOW_PATH = " "  # the end of a text only the standard library reads exactly (integers beyond 64 bits)


def dumps(value: Any) -> str:
    tags = _Tags()
    try:
        text = orjson.dumps(value, default=tags, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _EXACT.encode(_escaped(value)) + SLOW_PATH
    # ('$' first: one memchr; '"$' alone is slow to search, JSON is full of quotes)
    if "$" in text and text.count('"$') > tags.n:  # a user key (or text) starts with "$"
        escaped = _escaped(value)
        try:
            text = orjson.dumps(escaped, default=_default, option=_OPTIONS).decode()
        except orjson.JSONEncodeError:
            return _EXACT.encode(escaped) + SLOW_PATH
    return text


_FLAT = frozenset({str, int, float, bool, type(None)})


def dumps_flat(fields: dict[str, Any]) -> str:
    """`dumps(fields)`, the same text, faster for the common shape of a
    contact's fields: plain values and UTC instants (an import writes a
    million of them).  orjson writes a UTC datetime as `isoformat()` does, so
    the tag is built around the datetime itself rather than by a `default`
    call per instant; a key starting with `$` is found as in `dumps` (more
    `"$` than tags), and any other shape goes to `dumps`."""
    tagged = {}
    tags = 0
    for key, value in fields.items():
        kind = type(value)
        if kind is datetime:
            if value.tzinfo is not UTC:
                return dumps(fields)
            value = {"$t": value}
            tags += 1
        elif kind not in _FLAT:
            return dumps(fields)
        tagged[key] = value
    try:
        text = orjson.dumps(tagged).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a key that is not text
        return dumps(fields)
    # (a '$' of the user's anywhere is rare: counting '$' alone, one fast scan, settles most rows)
    if "$" in text and text.count("$") > tags and text.count('"$') > tags:  # a user key (or text) starts with "$"
        return dumps(fields)
    return text


def dumps_columns(names: Sequence[str], columns: Sequence[Sequence[Any]], rows: int) -> list[str] | None:
    """`dumps_flat` of each row's fields, `dict(zip(names, row))`, from the fields'
    columns (an import's batch): the same texts, or None when a column is not of
    the simple kinds this takes (plain values; UTC instants, with none among them)
    and the caller encodes row by row.  A column is looked at once, not a value a
    row, and no `default` is called: each instant is tagged in its column."""
    if any(type(name) is not str or name[:1] == "$" for name in names):
        return None  # (a "$" name is escaped by `dumps`)
    tagged = list(columns)
    for j, column in enumerate(columns):
        kinds = set(map(type, column))
        if kinds <= _FLAT:
            continue
        if not kinds <= _INSTANT_OR_NONE:
            return None
        instants = [v for v in column if v is not None] if type(None) in kinds else column
        if set(map(id, map(_TZINFO, instants))) != {id(UTC)}:
            return None
        tagged[j] = [v if v is None else {"$t": v} for v in column]
    try:
        return list(map(bytes.decode, map(orjson.dumps, dicts(names, tagged, rows))))
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate: `dumps` writes those
        return None


_INSTANT_OR_NONE = frozenset({datetime, type(None)})
_TZINFO = operator.attrgetter("tzinfo")


def loads(text: str | None) -> Any:
    if text is None or text == "":
        return None
    if text[-1] == SLOW_PATH:
        return _DECODER.decode(text)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _DECODER.decode(text)
    if "$" in text and '"$' in text:
        return _untag(value, "$$" in text)
    return value


def loads_v4(text: str) -> Any:
    """A text as fsl read it before schema version 7, when user keys were
    not escaped: a key `$$x` was the user's own (migration 5 rewrites those)."""
    if text[-1] == SLOW_PATH:
        return _V4_DECODER.decode(text)
    try:
        return _untag(orjson.loads(text), False)
    except orjson.JSONDecodeError:
        return _V4_DECODER.decode(text)


def _hook_v4(obj: dict) -> Any:
    return _tagged(obj) if len(obj) == 1 else obj


_V4_DECODER = json.JSONDecoder(object_hook=_hook_v4)


def needs_slow_path(text: str) -> bool:
    """Whether a text written without the mark holds an integer orjson would
    read as a float: `dumps` would write its value with the mark today."""
    try:
        return dumps(json.loads(text)).endswith(SLOW_PATH)
    except ValueError:
        return False
