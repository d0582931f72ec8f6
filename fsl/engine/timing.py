"""When a step is due, and until when a pause lasts (RUNTIME.md 3.1 and 4).

Thin rules over timecalc: everything here returns instants rounded up to the
whole minute, since the runtime decides minute by minute.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import overload
from zoneinfo import ZoneInfo

from .evaluate import Dur, add
from .model import Enrollment
from .program import Step
from ..timecalc import at_day, ceil_minute, localize, next_cron

UTC = timezone.utc
MINUTE = timedelta(minutes=1)


@overload
def iso(t: datetime) -> str: ...
@overload
def iso(t: datetime | None) -> str | None: ...
def iso(t: datetime | None) -> str | None:
    """An instant as the runtime reports it: UTC, to the minute, with Z."""
    if t is None:
        return None
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def minute_floor(t: datetime) -> datetime:
    """Event instants count to the minute (RUNTIME.md section 1); a naive
    instant is UTC."""
    t = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return t.astimezone(UTC).replace(second=0, microsecond=0)


def due_time(step: Step, en: Enrollment, anchor: datetime, zone: ZoneInfo, holidays) -> datetime:
    """The due instant of `step`, counted from `anchor` (the enrollment, or
    the instant the previous step executed).

    `at day N` counts from the enrollment's local date; a time already past
    (day 1 at 09:00 for an enrollment at 15:30) means as soon as allowed, so
    never before the anchor.  `at cron` is the next firing after the anchor.
    """
    kind = step.kind
    if kind == "after" and step.after is not None:
        t = add(anchor, step.after, zone, holidays)
    elif kind == "at_day" and step.day is not None:
        t = max(at_day(en.started_at, zone, step.day, step.minute), anchor)
    elif kind == "at_cron" and step.cron:
        t = next_cron(step.cron, anchor, zone)
    else:
        t = anchor
    return ceil_minute(t)


def repeat_time(step: Step, executed: datetime, zone: ZoneInfo, holidays) -> datetime:
    """The next due instant of an `every D` step that executed at `executed`."""
    assert step.every is not None
    return ceil_minute(add(executed, step.every, zone, holidays))


def as_instant(value, zone: ZoneInfo) -> datetime | None:
    """An `until` value as an instant: a datetime as is, a date (or an ISO
    date string) as the start of that day in the contact's local time."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value or " " in value \
                else date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return localize(datetime.combine(value, time()), zone)
    return None


def pause_end(at: datetime, for_: Dur | None, until_value, has_until: bool, default: Dur | None,
              zone: ZoneInfo, holidays) -> datetime | None:
    """The instant a pause that starts at `at` ends, or None for no pause:
    `for D` from the event; `until EXPR` (a date is the start of that local
    day); its `default` counted from the event when EXPR is none or not a
    time.  An `until` with no usable value and no default does not pause."""
    if for_ is not None:
        return ceil_minute(add(at, for_, zone, holidays))
    if has_until:
        t = as_instant(until_value, zone)
        if t is not None:
            return ceil_minute(t)
    if default is not None:
        return ceil_minute(add(at, default, zone, holidays))
    return None
