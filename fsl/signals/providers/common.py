"""What every provider adapter shares (SIGNALS.md 2): the event it yields, the
per-item errors, the refusal of a request, the JSON and time helpers, and the
match of an event to the outbox row of the message it concerns.

An adapter is a module with `verify(headers, body, settings, now)`, raising
`BadSignature` (the app answers 401), and `parse(body) -> Parsed`. `parse`
never raises: a body that is not what the provider documents, or one bad item
in a batch, is reported in `Parsed.errors` and the good items are kept.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.store.schema import actions
from fsl.store.sent import sends_by_message_id

# the built-in events of LANGUAGE.md section 8 that a provider can report
EVENT_TYPES = frozenset({"delivered", "opened", "clicked", "bounced", "deferred", "complained", "unsubscribed"})


class BadSignature(Exception):
    """The request is not provably the provider's: bad or missing signature or
    credentials, a stale timestamp, an unexpected topic. The message says
    which, never with a secret in it."""


class BadItem(Exception):
    """One item of a payload that cannot become an event (reported, not raised)."""


@dataclass(frozen=True)
class ProviderEvent:
    provider: str
    event_id: str  # the provider's id of this event, stable across its retries: the dedup key
    type: str  # one of EVENT_TYPES
    at: datetime  # UTC, to the second
    message_id: str | None  # our RFC 5322 Message-ID, `<...>`, when the payload carries it
    provider_message_id: str | None  # the provider's id of the message
    recipient: str | None = None  # the address the event concerns, when given
    fields: Mapping[str, Any] = field(default_factory=dict)  # kind, reason, url, machine
    # what may appear in the hand-over reply kept in actions.provider_id (see `match`)
    handover_ids: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # short strings for `fsl explain` (SIGNALS.md 5)

    def __post_init__(self) -> None:
        # evidence quotes the provider (a bounce's diagnostic): kept short
        object.__setattr__(self, "evidence", tuple(clip(e) for e in self.evidence))


@dataclass(frozen=True)
class ItemError:
    index: int | None  # the item's position in the payload; None: the body as a whole
    reason: str


@dataclass(frozen=True)
class Parsed:
    events: tuple[ProviderEvent, ...] = ()
    errors: tuple[ItemError, ...] = ()
    # items of a kind FSL has no event for (SendGrid `processed`, Mailgun `accepted`, ...):
    # (index, what it was), so the app can count them without treating them as errors
    ignored: tuple[tuple[int, str], ...] = ()
    # SES: a SubscriptionConfirmation names the URL the app GETs to confirm the subscription
    confirm_url: str | None = None


class Ignored(Exception):
    """An item of a kind that maps to no FSL event."""


def parse_items(items: Iterable[Any], one: Callable[[Any], list[ProviderEvent]]) -> Parsed:
    """Run `one` on each item; bad items become errors and the rest are kept."""
    events: list[ProviderEvent] = []
    errors: list[ItemError] = []
    ignored: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        try:
            events.extend(one(item))
        except Ignored as why:
            ignored.append((i, clip(str(why))))
        except BadItem as why:
            errors.append(ItemError(i, clip(str(why))))
    return Parsed(tuple(events), tuple(errors), tuple(ignored))


def parse_object(body: bytes, one: Callable[[Any], list[ProviderEvent]]) -> Parsed:
    """A body that is one JSON object holding one event (Mailgun, Postmark): `one` on it,
    or the reason it is no JSON at all."""
    try:
        payload = load_json(body)
    except BadItem as why:
        return Parsed(errors=(ItemError(None, str(why)),))
    return parse_items([payload], one)


def clip(text: str, limit: int = 200) -> str:
    """Provider text kept in reports and evidence, bounded: a payload cannot flood a report."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_json(body: bytes) -> Any:
    """The body as JSON, or BadItem saying why not."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadItem(f"the body is not JSON: {e}") from None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A request header by case-insensitive name."""
    low = name.lower()
    for k, v in headers.items():
        if k.lower() == low:
            return v
    return None


def obj(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadItem(f"{what} is not an object")
    return value


def need(item: Mapping[str, Any], key: str) -> str:
    """A required non-empty string member."""
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise BadItem(f"`{key}` is missing or not a string")
    return value


def opt(item: Mapping[str, Any], key: str) -> str | None:
    """An optional string member: None when absent, empty or of another type."""
    value = item.get(key)
    return value if isinstance(value, str) and value else None


def utc_from_epoch(value: Any, what: str = "timestamp") -> datetime:
    """Epoch seconds (int, float or digits) → an aware UTC datetime to the second."""
    if isinstance(value, str) and re.fullmatch(r"\d{1,12}(\.\d+)?", value.strip()):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BadItem(f"`{what}` is not a number of seconds")
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise BadItem(f"`{what}` is out of range") from None


def utc_from_iso(value: Any, what: str) -> datetime:
    """An ISO 8601 instant → an aware UTC datetime to the second. Providers
    send UTC or an offset; one without either is read as UTC."""
    if not isinstance(value, str):
        raise BadItem(f"`{what}` is not a date-time")
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadItem(f"`{what}` is not an ISO 8601 date-time") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).replace(microsecond=0)


def angle_id(value: str | None) -> str | None:
    """A Message-ID in the `<...>` form the outbox stores (providers often strip the brackets)."""
    if not value or not value.strip():
        return None
    v = value.strip()
    return v if v.startswith("<") and v.endswith(">") else f"<{v.strip('<>')}>"


def content_id(provider: str, item: Any) -> str:
    """A dedup key for a provider that gives its events no id (Postmark): the
    hash of the item's canonical JSON, which a retry of the webhook repeats."""
    canon = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{provider}:" + hashlib.sha256(canon.encode("utf-8")).hexdigest()[:32]


# The hand-over reply is free text (`250 Ok: queued as 4BXY...`, `250 Ok 0100018c...-000000`);
# a provider id matches only as a whole token of it, never as part of a longer one.
_ID_CHARS = r"A-Za-z0-9._@+=/-"
MIN_HANDOVER_ID = 6  # shorter ids would match by chance


def _whole_token(reply: str, ident: str) -> bool:
    return re.search(rf"(?<![{_ID_CHARS}]){re.escape(ident)}(?![{_ID_CHARS}])", reply) is not None


def match(conn: Connection, event: ProviderEvent) -> str | None:
    """The outbox key (`actions.key`) of the message an event concerns, or None.

    First by our Message-ID (`actions.message_id`, exact; fsl.store.sent); then by each of the
    event's `handover_ids` found as a whole token inside `actions.provider_id`,
    the SMTP server's final reply to DATA kept at hand-over. That second look
    is a LIKE scan narrowed to delivered sends (no index can serve a
    substring), then checked token-wise in Python so that `ABC123` does not
    match inside `XABC1234`. Several rows matching one id (cannot happen with
    real provider ids) match none: an ambiguous event is stored unmatched.
    """
    a = actions.c
    if event.message_id:  # with or without its brackets (fsl.store.sent)
        sent = sends_by_message_id(conn, [event.message_id], (a.key,))
        if len(sent) == 1:
            return str(sent[0]["key"])
    for ident in event.handover_ids:
        if len(ident) < MIN_HANDOVER_ID:
            continue
        pattern = "%" + ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = conn.execute(sa.select(a.key, a.provider_id).where(
            a.kind == "send", a.provider_id.is_not(None), a.provider_id.like(pattern, escape="\\"))).all()
        keys = {key for key, reply in rows if _whole_token(reply, ident)}
        if len(keys) == 1:
            return keys.pop()
    return None


MAX_AGE = 300  # seconds a signed timestamp may be from now (either way) before it is refused as stale


def check_fresh(stamp: str, now: datetime, settings: Mapping[str, Any]) -> None:
    """Refuse a signed timestamp that is not epoch seconds or is more than
    `max_age` (settings, default MAX_AGE) seconds from now: a captured request
    cannot be replayed later."""
    if not re.fullmatch(r"\d{1,12}", stamp.strip()):
        raise BadSignature("the timestamp is not a number of seconds")
    limit = settings.get("max_age", MAX_AGE)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)):
        limit = MAX_AGE
    if abs(now.timestamp() - int(stamp)) > limit:
        raise BadSignature("stale timestamp")
