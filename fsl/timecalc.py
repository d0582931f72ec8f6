"""Pure time arithmetic of the FSL runtime (RUNTIME.md section 1 and 3).

No I/O, no database, no clock: every function maps instants to instants.

Conventions
-----------
* Every instant going in or out is a timezone-aware ``datetime``; results are
  in UTC.  Local computations use ``zoneinfo.ZoneInfo``.
* Wall-clock (local) times are *naive* datetimes.  ``localize`` is the single
  place where a wall-clock time becomes an instant, so the DST rules live in
  one spot: a time in the spring-forward gap moves forward by the gap, a time
  that occurs twice is its first occurrence.
* The hot paths (``localize``, ``next_allowed``, ``next_cron``,
  ``add_duration``) are called millions of times by the simulator, so zones,
  holiday calendars, parsed crons, compiled windows and per-day window
  candidates are memoised with ``functools.lru_cache``.

Windows
-------
A window is a sequence of ranges ``(days, start_minute, end_minute)`` (see
``WindowRange``; plain 3-tuples work too).  ``days`` is a frozenset of
weekdays, 0=Mon .. 6=Sun; minutes count from local midnight.  A range admits
the local times ``start <= t < end`` on the listed days, so ``09:00-17:00``
admits 09:00 up to 16:59:59.  Decisions documented here:

* ``end_minute < start_minute`` is an overnight range: it opens on a listed
  day at ``start`` and runs past midnight to ``end`` on the following day
  (``fri 22:00-06:00`` is Friday 22:00 to Saturday 06:00).  ``end_minute`` may
  be 1440 (to midnight); ``09:00-00:00`` means the same thing.
* ``end_minute == start_minute`` is an empty range (the checker reports an
  empty window as E305).
* Holidays apply to the local date of the instant itself: the part of an
  overnight range that falls on a holiday is closed.
* Pass windows as tuples when you can: they are hashed to find the compiled
  form in a cache (lists are converted on each call).
"""

from __future__ import annotations

import bisect
import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any, Mapping, NamedTuple, Sequence, overload
from zoneinfo import ZoneInfo

from croniter import croniter

from fsl.durations import normalize_unit  # the one table of unit spellings

__all__ = [
    "UTC",
    "iso",
    "WindowRange",
    "HolidayCalendar",
    "resolve_zone",
    "get_zone",
    "ceil_minute",
    "localize",
    "to_local",
    "add_duration",
    "normalize_unit",
    "calendar_period",
    "holiday_calendar",
    "is_valid_holiday_code",
    "is_holiday",
    "parse_days",
    "parse_hhmm",
    "parse_window",
    "is_allowed",
    "next_allowed",
    "next_cron",
    "is_valid_cron",
    "at_day",
]

UTC = timezone.utc
_UTC_ZONE = ZoneInfo("UTC")

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_MIDNIGHT = time(0, 0)

# How far next_allowed looks before concluding a window can never open.
MAX_SEARCH_DAYS = 400


# --------------------------------------------------------------------------
# Zones
# --------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _zone_or_none(key: str) -> ZoneInfo | None:
    # Cached because the failing path (an exception per call) is slow and
    # contact data may carry the same bad value for thousands of contacts.
    try:
        return ZoneInfo(key)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError on bad keys, ...
        return None


def get_zone(value: object) -> ZoneInfo | None:
    """The ZoneInfo for an IANA name, or None when it is not a valid zone."""
    if not isinstance(value, str):
        return None
    key = value.strip()
    if not key:
        return None
    return _zone_or_none(key)


def resolve_zone(
    value: str | None, default: str | None, project_default: str | None
) -> ZoneInfo:
    """The contact's zone: data value, else playbook default, else project
    default, else UTC.  Each candidate is used only if it is a valid IANA
    zone, so this never raises (``"Mars/Olympus"`` falls through)."""
    for candidate in (value, default, project_default):
        zone = get_zone(candidate)
        if zone is not None:
            return zone
    return _UTC_ZONE


# --------------------------------------------------------------------------
# Instants and wall clocks
# --------------------------------------------------------------------------


def ceil_minute(t: datetime) -> datetime:
    """Round up to the next whole minute; a whole minute is unchanged."""
    if t.second or t.microsecond:
        return t.replace(second=0, microsecond=0) + _MINUTE
    return t


def to_local(t: datetime, zone: ZoneInfo) -> datetime:
    """The naive local wall-clock time of instant ``t`` in ``zone``."""
    return t.astimezone(zone).replace(tzinfo=None)


def _exists(naive: datetime, zone: ZoneInfo, fold: int) -> datetime | None:
    """The UTC instant showing wall time ``naive`` with ``fold``, or None
    when no instant shows it (round trip through UTC changes the wall time)."""
    u = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
    if u.astimezone(zone).replace(tzinfo=None, fold=0) == naive:
        return u
    return None


def localize(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (RUNTIME.md section 1).

    * ambiguous (fall back): the first occurrence (fold=0);
    * non-existent (spring-forward gap): moved forward by the gap, so 02:30 on
      the US spring day is 03:30 daylight time.
    """
    naive = naive_local.replace(tzinfo=None, fold=0)
    if zone is _UTC_ZONE:
        return naive.replace(tzinfo=UTC)
    u = naive.replace(tzinfo=zone).astimezone(UTC)
    if u.astimezone(zone).replace(tzinfo=None, fold=0) == naive:
        return u
    # The round trip changed the wall time: ``naive`` lies in a gap.  Inside
    # a gap zoneinfo gives fold=0 the offset before the transition and fold=1
    # the offset after it; their difference is the size of the gap.
    before = naive.replace(tzinfo=zone, fold=0).utcoffset()
    after = naive.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    gap = abs(after - before)
    moved = naive + gap
    # The moved time exists for every real gap; if some odd zone chains two
    # transitions, fall back to zoneinfo's own mapping rather than loop.
    return _exists(moved, zone, 0) or u


def calendar_period(t: datetime, zone: ZoneInfo, period: str) -> tuple[datetime, datetime]:
    """The local calendar week (Monday 00:00 to the next Monday 00:00) or month
    containing instant t, as UTC instants [start, end): a calendar cap's period."""
    day = to_local(t, zone).date()
    if period == "week":
        first = day - timedelta(days=day.weekday())
        following = first + timedelta(days=7)
    elif period == "month":
        first = day.replace(day=1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    else:
        raise ValueError(f"unknown calendar period {period!r}")
    return (localize(datetime.combine(first, datetime.min.time()), zone),
            localize(datetime.combine(following, datetime.min.time()), zone))


# --------------------------------------------------------------------------
# Holidays
# --------------------------------------------------------------------------


def _split_code(code: str) -> tuple[str, str | None]:
    country, _, subdiv = code.strip().partition("-")
    return country.upper(), (subdiv or None)


@lru_cache(maxsize=512)
def _canonical_code(code: str) -> tuple[str, str | None] | None:
    """(country, subdivision) as the holidays package accepts them, or None."""
    if not isinstance(code, str) or not code.strip():
        return None
    import holidays as _holidays  # (here and in _year_holidays: its import costs every fsl command ~0.1 s)

    country, subdiv = _split_code(code)
    attempts = [subdiv] if subdiv is None else [subdiv, subdiv.upper()]
    for sub in attempts:
        try:
            with warnings.catch_warnings():  # some calendars start after 2000 and say so: only the code matters
                warnings.simplefilter("ignore")
                _holidays.country_holidays(country, subdiv=sub, years=2000)
        except Exception:  # noqa: BLE001 - the holidays package raises its own errors for unknown codes: try the next form
            continue
        return country, sub
    return None


@lru_cache(maxsize=4096)
def _year_holidays(country: str, subdiv: str | None, year: int) -> Mapping[date, str]:
    # One fresh, fully expanded object per (calendar, year): nothing is shared
    # and mutated lazily across threads, and lookups are plain dict lookups.
    import holidays as _holidays

    try:
        cal = _holidays.country_holidays(country, subdiv=subdiv, years=year)
        return dict(cal.items())
    except Exception:  # noqa: BLE001 - years outside the package's range, etc.
        return {}


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """Public holidays of a country (optionally a subdivision), any year.

    ``local_date in cal`` and ``cal.get(local_date)`` (the holiday's name)
    work for any year; years are loaded on first use and cached.
    Hashable, so it can be part of cache keys.
    """

    country: str
    subdiv: str | None = None

    @property
    def code(self) -> str:
        return self.country if self.subdiv is None else f"{self.country}-{self.subdiv}"

    def __contains__(self, day: object) -> bool:
        if isinstance(day, datetime):
            day = day.date()
        if not isinstance(day, date):
            return False
        return day in _year_holidays(self.country, self.subdiv, day.year)

    def get(self, day: date, default: str | None = None) -> str | None:
        if isinstance(day, datetime):
            day = day.date()
        return _year_holidays(self.country, self.subdiv, day.year).get(day, default)


@lru_cache(maxsize=512)
def holiday_calendar(code: str) -> HolidayCalendar | None:
    """The calendar for ``"US"``, ``"DE"``, ``"US-CA"`` ...; None if unknown."""
    canonical = _canonical_code(code)
    if canonical is None:
        return None
    return HolidayCalendar(*canonical)


def is_valid_holiday_code(code: str) -> bool:
    """Whether ``skip holidays CODE`` names a known calendar (else E215)."""
    return holiday_calendar(code) is not None


def is_holiday(cal: object | None, local_date: date) -> bool:
    """Whether ``local_date`` (a local calendar date) is a holiday of ``cal``.

    ``cal`` may be a HolidayCalendar, any object supporting ``in`` with dates
    (e.g. a holidays.HolidayBase), or None (no holidays)."""
    if cal is None:
        return False
    if isinstance(local_date, datetime):
        local_date = local_date.date()
    return local_date in cal  # type: ignore[operator]


# --------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------


def _is_business_day(d: date, holiday_cal: object | None) -> bool:
    return d.weekday() < 5 and not is_holiday(holiday_cal, d)


def add_duration(
    t: datetime,
    amount: int,
    unit: str,
    zone: ZoneInfo,
    holiday_calendar: object | None = None,
) -> datetime:
    """``t`` plus a duration (RUNTIME.md section 1).

    * seconds, minutes, hours: absolute (``t + timedelta``);
    * days, weeks: calendar-local, the same local wall-clock time N days later
      (so ``1 day`` across the end of DST is 25 hours);
    * business_days: the same local wall-clock time on the Nth following day
      that is neither a Saturday, a Sunday nor a holiday of
      ``holiday_calendar``.  Counting starts from t's local date whatever it
      is (Saturday + 1 business day = Monday).  Negative amounts count back.

    Wall-clock results go through ``localize`` (gap -> forward, overlap ->
    first occurrence).  Holidays are not skipped for days/weeks: the window
    step does that.
    """
    u = normalize_unit(unit)
    if u == "minutes":
        return t + timedelta(minutes=amount)
    if u == "hours":
        return t + timedelta(hours=amount)
    if u == "seconds":
        return t + timedelta(seconds=amount)
    if u == "business_days" and amount == 0:
        return t
    # Calendar-local results depend only on the instant (not on t's tzinfo),
    # the amount, the zone and the calendar, and always come out in UTC: they
    # are memoised when the calendar is hashable (None or a HolidayCalendar).
    # The key is the instant in UTC: aware datetimes that differ only by
    # `fold` compare equal within their own zone though they are different
    # instants.
    if (holiday_calendar is None or type(holiday_calendar) is HolidayCalendar) \
            and type(zone) is ZoneInfo and type(amount) is int and type(t) is datetime and t.tzinfo is not None:
        return _calendar_add(t if t.tzinfo is UTC else t.astimezone(UTC), amount, u, zone, holiday_calendar)
    return _calendar_add_uncached(t, amount, u, zone, holiday_calendar)


@lru_cache(maxsize=32768)
def _calendar_add(t: datetime, amount: int, u: str, zone: ZoneInfo, holiday_calendar: object | None) -> datetime:
    return _calendar_add_uncached(t, amount, u, zone, holiday_calendar)


def _calendar_add_uncached(t: datetime, amount: int, u: str, zone: ZoneInfo,
                           holiday_calendar: object | None) -> datetime:
    local = to_local(t, zone)
    if u == "days":
        return localize(local + timedelta(days=amount), zone)
    if u == "weeks":
        return localize(local + timedelta(weeks=amount), zone)
    # business days
    if amount == 0:
        return t
    step = _DAY if amount > 0 else -_DAY
    d = local.date()
    remaining = abs(amount)
    while remaining:
        d += step
        if _is_business_day(d, holiday_calendar):
            remaining -= 1
    return localize(datetime.combine(d, local.time()), zone)


# --------------------------------------------------------------------------
# at day N
# --------------------------------------------------------------------------


def at_day(
    enrolled_at: datetime, zone: ZoneInfo, day: int, minute_of_day: int | None
) -> datetime:
    """Due instant of ``at day N [HH:MM]`` (LANGUAGE.md section 5).

    Day 1 is the enrollment's local date.  With ``minute_of_day`` None the
    time is the enrollment's local time of day.  The result may lie before
    the enrollment (``at day 1 09:00`` for a 15:30 enrollment): the CALLER
    applies "already passed -> as soon as allowed" by taking
    ``max(due, now)`` before the window step.
    """
    local = to_local(enrolled_at, zone)
    d = local.date() + timedelta(days=day - 1)
    if minute_of_day is None:
        wall = datetime.combine(d, local.time())
    else:
        wall = datetime.combine(d, _MIDNIGHT) + timedelta(minutes=minute_of_day)
    return localize(wall, zone)


# --------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------


class WindowRange(NamedTuple):
    """One window range: local ``start <= t < end`` on ``days``.

    days: frozenset of weekdays (0=Mon .. 6=Sun); start/end: minutes from
    local midnight (0..1440).  end < start: overnight into the next day;
    end == start: empty.
    """

    days: frozenset[int]
    start_minute: int
    end_minute: int


_DAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DAY_GROUPS = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}


def parse_days(spec: str) -> frozenset[int]:
    """Weekday set of a DAYS spec: ``mon``..``sun``, ``daily``, ``weekdays``,
    ``weekends`` or a range ``mon-fri``.

    A range runs forward through the week and wraps past Sunday, so
    ``fri-mon`` is Friday, Saturday, Sunday, Monday (what a user writing it
    means); ``mon-mon`` is Monday alone.  Case-insensitive.  Raises
    ValueError on anything else.
    """
    s = spec.strip().lower()
    if s in _DAY_GROUPS:
        return _DAY_GROUPS[s]
    if s in _DAY_NAMES:
        return frozenset({_DAY_NAMES[s]})
    first, sep, last = s.partition("-")
    if sep and first.strip() in _DAY_NAMES and last.strip() in _DAY_NAMES:
        a, b = _DAY_NAMES[first.strip()], _DAY_NAMES[last.strip()]
        return frozenset((a + i) % 7 for i in range((b - a) % 7 + 1))
    raise ValueError(f"invalid days {spec!r}")


_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(text: str) -> int:
    """Minutes from midnight of ``HH:MM`` (``00:00``-``23:59``, two digits)."""
    m = _HHMM.match(text.strip())
    if not m:
        raise ValueError(f"invalid time of day {text!r}")
    return int(m.group(1)) * 60 + int(m.group(2))


def parse_window(text: str) -> tuple[WindowRange, ...]:
    """Ranges of a window setting body: ``"mon-fri 09:00-17:00, sat 10:00-12:00"``."""
    ranges = []
    for part in text.split(","):
        days_text, _, span = part.strip().rpartition(" ")
        start, sep, end = span.partition("-")
        if not days_text or not sep:
            raise ValueError(f"invalid window range {part.strip()!r}")
        ranges.append(WindowRange(parse_days(days_text), parse_hhmm(start), parse_hhmm(end)))
    return tuple(ranges)


@dataclass(frozen=True, slots=True)
class _Window:
    # Per weekday, the sorted open intervals in seconds from local midnight.
    # An overnight range contributes [start, 86400) to its day and [0, end)
    # to the next weekday, so membership is a per-day lookup.
    intervals: tuple[tuple[tuple[int, int], ...], ...]
    starts: tuple[tuple[int, ...], ...]  # per weekday: where intervals open
    full: bool  # every instant of every day is inside (no window at all)
    empty: bool  # no instant is ever inside


def _merge(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return tuple(merged)


@lru_cache(maxsize=1024)
def _compile_window(ranges: tuple | None) -> _Window:
    if not ranges:
        whole = ((0, 86400),)
        return _Window((whole,) * 7, ((0,),) * 7, True, False)
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for days, start, end in ranges:
        if not 0 <= start <= 1440 or not 0 <= end <= 1440:
            raise ValueError(f"window minutes out of range: {start}-{end}")
        s, e = start * 60, end * 60
        for wd in days:
            if e > s:
                per_day[wd].append((s, e))
            elif e < s:  # overnight
                per_day[wd].append((s, 86400))
                if e:
                    per_day[(wd + 1) % 7].append((0, e))
    intervals = tuple(_merge(spans) for spans in per_day)
    starts = tuple(tuple(a for a, _ in spans) for spans in intervals)
    full = all(spans == ((0, 86400),) for spans in intervals)
    empty = not any(intervals)
    return _Window(intervals, starts, full, empty)


def _window(ranges: Sequence | None) -> _Window:
    key = ranges if ranges is None or isinstance(ranges, tuple) else tuple(ranges)
    try:
        return _compile_window(key)
    except TypeError:  # unhashable, e.g. days given as a set or ranges as lists
        if key is None:  # None is hashable: the error came from elsewhere
            raise
        return _compile_window(tuple(WindowRange(frozenset(d), s, e) for d, s, e in key))


def _inside(t: datetime, zone: ZoneInfo, win: _Window, holiday_cal: object | None) -> bool:
    local = t.astimezone(zone)
    if holiday_cal is not None and local.date() in holiday_cal:  # type: ignore[operator]
        return False
    if win.full:
        return True
    tod = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    for a, b in win.intervals[local.weekday()]:
        if tod < a:
            return False
        if tod < b:
            return True
    return False


def is_allowed(
    t: datetime, zone: ZoneInfo, ranges: Sequence | None, holiday_cal: object | None = None
) -> bool:
    """Whether instant ``t`` is inside the window (any range, in local time)
    on a local day that is not a holiday.  No ranges: every non-holiday."""
    return _inside(t, zone, _window(ranges), holiday_cal)


def _offset(u: datetime, zone: ZoneInfo) -> timedelta:
    return u.astimezone(zone).utcoffset()  # type: ignore[return-value]


@lru_cache(maxsize=8192)
def _transitions_near(zone: ZoneInfo, d: date) -> tuple[datetime, ...]:
    """Offset transitions among the instants whose wall date can be ``d``.

    A transition can bring the wall clock *into* a window range without the
    wall clock ever showing the range's start (a start inside a gap, or a
    fall-back landing mid-range), so transitions are window candidates.
    """
    lo = datetime.combine(d, _MIDNIGHT, UTC) - timedelta(hours=15)
    hi = lo + timedelta(hours=15 + 24 + 15)
    off_lo = _offset(lo, zone)
    if off_lo == _offset(hi, zone):
        return ()
    # Bisect to the second: the first instant with an offset other than lo's.
    # (Two transitions within ~2 days do not occur in real zones.)
    a, b = 0, int((hi - lo).total_seconds())
    while b - a > 1:
        mid = (a + b) // 2
        if _offset(lo + timedelta(seconds=mid), zone) == off_lo:
            a = mid
        else:
            b = mid
    return (lo + timedelta(seconds=b),)


@lru_cache(maxsize=65536)
def _day_candidates(zone: ZoneInfo, d: date, starts: tuple[int, ...]) -> tuple[datetime, ...]:
    """Sorted instants at which the allowed set may open on wall date ``d``.

    The allowed set is a union of intervals; it can only start being true
    where the wall clock crosses a range start (every instant showing that
    time: two on a fall-back day, none in a gap) or where the offset jumps.
    """
    found: set[datetime] = set(_transitions_near(zone, d))
    base = datetime.combine(d, _MIDNIGHT)
    for s in starts:
        wall = base + timedelta(seconds=s)
        for fold in (0, 1):
            u = _exists(wall, zone, fold)
            if u is not None:
                found.add(u)
    return tuple(sorted(found))


def next_allowed(
    t: datetime,
    zone: ZoneInfo,
    ranges: Sequence | None,
    holiday_cal: object | None = None,
) -> datetime:
    """The first instant >= ``t`` inside some window range (local time) on a
    local date that is not a holiday (RUNTIME.md section 3 step 2).

    ``t`` itself when it is allowed.  With no ranges only holidays are
    skipped (-> the next non-holiday local midnight).  A range start in a DST
    gap opens when the clock jumps past it (02:00 on the US spring day ->
    03:00 daylight time); a range wholly inside a gap never opens that day.
    Idempotent.  Raises ValueError when nothing opens within
    MAX_SEARCH_DAYS (an empty window, a window only on holidays, ...).
    """
    win = _window(ranges)
    if win.full and holiday_cal is None:
        return t
    if _inside(t, zone, win, holiday_cal):
        return t
    if win.empty:
        raise ValueError("the window is empty: no instant is ever allowed")
    d = t.astimezone(zone).date() - _DAY  # an overnight range may open the day before
    best: datetime | None = None
    stop: date | None = None
    for _ in range(MAX_SEARCH_DAYS + 2):
        # Candidates of later wall dates are later instants, except across a
        # backward offset jump; a jump is far less than a day, so once a
        # candidate is found one more wall date settles the minimum.
        if stop is not None and d > stop:
            break
        for c in _day_candidates(zone, d, win.starts[d.weekday()]):
            if c <= t:
                continue
            if best is not None and c >= best:
                break
            if _inside(c, zone, win, holiday_cal):
                best = c
                stop = c.astimezone(zone).date() + _DAY
                break
        d += _DAY
    if best is None:
        raise ValueError(f"no allowed instant within {MAX_SEARCH_DAYS} days of {t.isoformat()}")
    return best


# --------------------------------------------------------------------------
# Cron
# --------------------------------------------------------------------------

_DOW_NAMES = re.compile(r"MON|TUE|WED|THU|FRI|SAT|SUN")
_PLAIN = re.compile(r"^[0-9*,/\-?]*$")


@dataclass(frozen=True, slots=True)
class _Cron:
    """A parsed 5-field cron.  ``fast`` crons are iterated here; the rest
    (L, W, #, both day fields restricted) are delegated to croniter."""

    expr: str
    fast: bool
    minutes: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    doms: frozenset[int] | None = None  # None: any day of month
    months: frozenset[int] = frozenset()
    dows: frozenset[int] | None = None  # cron numbering 0=Sun; None: any


def _field_values(values: list) -> tuple[int, ...] | None:
    return None if values == ["*"] else tuple(sorted(set(values)))


@lru_cache(maxsize=1024)
def _parse_cron(expr: str) -> _Cron:
    fields = expr.split()
    if len(fields) != 5 or not croniter.is_valid(expr):
        raise ValueError(f"invalid cron expression {expr!r}")
    try:
        expanded, nth = croniter.expand(expr)
    except Exception as exc:  # noqa: BLE001 - croniter raises assorted errors for bad expressions: one ValueError with the text
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    dom_raw, dow_raw = fields[2].upper(), _DOW_NAMES.sub("", fields[4].upper())
    special = (
        bool(nth)
        or not _PLAIN.match(dom_raw)  # L, W
        or not _PLAIN.match(dow_raw)  # L, #
        or any(v != ["*"] and not all(isinstance(x, int) for x in v) for v in expanded)
    )
    if special:
        return _Cron(expr, False)
    minutes, hours, doms, months, dows = (_field_values(v) for v in expanded)
    if doms is not None and dows is not None:
        # Both day fields restricted: cron fires on either (day_or); leave
        # that rarely used rule to croniter.
        return _Cron(expr, False)
    return _Cron(
        expr,
        True,
        minutes=minutes or tuple(range(60)),
        hours=hours or tuple(range(24)),
        doms=frozenset(doms) if doms is not None else None,
        months=frozenset(months) if months is not None else frozenset(range(1, 13)),
        dows=frozenset(x % 7 for x in dows) if dows is not None else None,
    )


def is_valid_cron(expr: str) -> bool:
    """Whether ``expr`` is a valid 5-field cron (no seconds field, no @macros)."""
    if not isinstance(expr, str):
        return False
    try:
        _parse_cron(expr)
    except ValueError:
        return False
    return True


# Feb 29 needs up to 8 years (no leap day 2100); beyond that it never fires.
_CRON_MAX_DAYS = 366 * 9


def _first_time_at_or_after(cron: _Cron, hour: int, minute: int) -> tuple[int, int] | None:
    hours, minutes = cron.hours, cron.minutes
    i = bisect.bisect_left(hours, hour)
    if i < len(hours) and hours[i] == hour:
        j = bisect.bisect_left(minutes, minute)
        if j < len(minutes):
            return hour, minutes[j]
        i += 1
    if i < len(hours):
        return hours[i], minutes[0]
    return None


def _cron_day_matches(cron: _Cron, d: date) -> bool:
    if cron.doms is not None and d.day not in cron.doms:
        return False
    if cron.dows is not None and (d.weekday() + 1) % 7 not in cron.dows:
        return False
    return True


def _fast_next(cron: _Cron, naive: datetime) -> datetime:
    """First naive firing strictly after ``naive`` (minute resolution)."""
    cand = naive.replace(second=0, microsecond=0) + _MINUTE
    d = cand.date()
    h, m = cand.hour, cand.minute
    for _ in range(_CRON_MAX_DAYS):
        if d.month not in cron.months:
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
            h = m = 0
            continue
        if _cron_day_matches(cron, d):
            hm = _first_time_at_or_after(cron, h, m)
            if hm is not None:
                return datetime(d.year, d.month, d.day, hm[0], hm[1])
        d += _DAY
        h = m = 0
    raise ValueError(f"cron {cron.expr!r} never fires")


def _naive_next(cron: _Cron, naive: datetime) -> datetime:
    if cron.fast:
        return _fast_next(cron, naive)
    try:
        return croniter(cron.expr, naive).get_next(datetime)
    except Exception as exc:  # noqa: BLE001 - CroniterBadDateError: never fires
        raise ValueError(f"cron {cron.expr!r}: {exc}") from None


def next_cron(expr: str, after: datetime, zone: ZoneInfo) -> datetime:
    """The next firing strictly after ``after`` of a 5-field cron read in
    ``zone``'s local time (RUNTIME.md section 1).

    Iterates on naive wall-clock times and localises each firing, so a DST
    change neither skips nor repeats one: a firing in the spring gap moves
    forward by the gap, and in the repeated fall-back hour a wall time fires
    only at its first occurrence (firings that localise to <= ``after`` are
    passed over).  Raises ValueError for an invalid expression or one that
    never fires.
    """
    cron = _parse_cron(expr)
    naive = to_local(after, zone)
    # Bounded: a fall-back hour passes over at most 60 minutely firings.
    for _ in range(10_000):
        naive = _naive_next(cron, naive)
        u = localize(naive, zone)
        if u > after:
            return u
    raise ValueError(f"cron {expr!r} found no firing after {after.isoformat()}")


@overload
def iso(t: datetime) -> str: ...
@overload
def iso(t: datetime | None) -> str | None: ...
def iso(t: datetime | None) -> str | None:
    """An instant as fsl shows it (JSON output, journals, templates, reports):
    UTC to the second with Z, `2026-11-23T15:00:00Z`; a naive instant is UTC.

    The one display form.  The SQL store keeps instants in its own, exact form
    (fsl/store/codec.py, microseconds and `+00:00`), and event keys hash theirs
    (fsl/io/keys.py), since their text must never change.
    """
    if t is None:
        return None
    t = t.astimezone(UTC) if t.tzinfo is not None else t
    return t.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def parse_instant(value: Any) -> datetime | None:
    """A YAML timestamp, ISO string (Z or offset) or date as an aware UTC
    datetime; None when it is none of these."""
    if isinstance(value, datetime):
        t = datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                     value.microsecond, tzinfo=value.tzinfo)
        return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            return None
        return (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)
    return None
