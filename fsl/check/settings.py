"""Values of time settings: zones (E213), crons (E214), holiday calendars
(E215), windows (E305, and day names, E104), the best-time hold (E104).

These need no project file: zones come from the IANA database (tzdata),
holiday calendars from the `holidays` package, crons from croniter.
"""
from __future__ import annotations

import zoneinfo
from functools import lru_cache

from ..diagnostics import Diagnostic, Span, did_you_mean
from ..syntax import nodes as n
from .context import CheckContext

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_GROUPS = ("daily", "weekdays", "weekends")
CRON_HELP = 'a cron has 5 fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * MON-FRI"'


def check_settings(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        for item in pb.items:
            if isinstance(item, n.Timezone):
                _timezone(ctx, item)
            elif isinstance(item, n.EnrollWhen) and item.check_cron is not None and item.cron_span is not None:
                _cron(ctx, item.check_cron, item.cron_span)
            elif isinstance(item, n.SkipHolidays):
                _holidays(ctx, item)
            elif isinstance(item, n.Window):
                for rng in item.ranges:
                    _window_range(ctx, rng)
            elif isinstance(item, n.BestTime):
                _best_time(ctx, item)
            elif isinstance(item, n.Step) and isinstance(item.timing, n.AtCron):
                _cron(ctx, item.timing.expr, item.timing.expr_span)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_zone(name: str) -> bool:
    return name in _zones()


def suggest_zone(name: str) -> str | None:
    """The IANA zone closest to a misspelt one (`America/New_Yrok`), or None."""
    return did_you_mean(name, _zones())


def _timezone(ctx: CheckContext, tz: n.Timezone) -> None:
    if isinstance(tz.value, n.Literal) and tz.value.kind == "string":
        _zone(ctx, str(tz.value.value), tz.value.span)
    if tz.default is not None and tz.default_span is not None:  # the builder sets both or neither
        _zone(ctx, tz.default, tz.default_span)


def _zone(ctx: CheckContext, name: str, span: Span) -> None:
    if valid_zone(name):
        return
    guess = suggest_zone(name)
    ctx.report(Diagnostic.make("E213", f'invalid time zone "{name}"', span,
                               f"did you mean {guess}?" if guess else "use an IANA name such as America/New_York"))


def _cron(ctx: CheckContext, expr: str, span: Span) -> None:
    from fsl.timecalc import is_valid_cron  # lazily: holidays and croniter are slow to import

    if not is_valid_cron(expr):
        ctx.report(Diagnostic.make("E214", f'invalid cron expression "{expr}"', span, CRON_HELP))


# A send is held at most this long for its best hour: longer, and the hold
# outweighs the step's own timing (and each hold weighs every hour up to it).
BEST_TIME_MAX_DAYS = 7


def _best_time(ctx: CheckContext, item: n.BestTime) -> None:
    within = item.within
    if within is None or item.within_span is None or within.is_zero:  # zero: reported by the parser (E104)
        return
    seconds = within.nominal_seconds() or within.amount * 86400  # business days: at least a day each
    if seconds > BEST_TIME_MAX_DAYS * 86400:
        ctx.report(Diagnostic.make(
            "E104", f"`send at best time within {within}` holds a send longer than {BEST_TIME_MAX_DAYS} days",
            item.within_span, f"hold it at most {BEST_TIME_MAX_DAYS} days (the default is 1 day)"))


def _holidays(ctx: CheckContext, item: n.SkipHolidays) -> None:
    from fsl.timecalc import is_valid_holiday_code

    help = "use an ISO 3166 country code such as US or DE, optionally with a region: US-CA"
    # the expression form: its default (when given) and a literal value must be known calendars
    if (item.value is None or item.code) and not is_valid_holiday_code(item.code):
        ctx.report(Diagnostic.make("E215", f'unknown holiday calendar "{item.code}"', item.code_span, help))
    value = item.value
    if isinstance(value, n.Literal) and value.kind == "string" and not is_valid_holiday_code(str(value.value)):
        ctx.report(Diagnostic.make("E215", f'unknown holiday calendar "{value.value}"', value.span, help))


def _window_range(ctx: CheckContext, rng: n.WindowRange) -> None:
    _days(ctx, rng)
    # An end of 00:00 means midnight at the end of the day (as the runtime reads
    # it); it is also what the parser keeps for an invalid end time it has
    # already reported (E104), so it is never called empty here.
    if rng.end != 0 and rng.start >= rng.end:
        ctx.report(Diagnostic.make(
            "E305",
            f"the window {rng.days} {_hhmm(rng.start)}-{_hhmm(rng.end)} is empty: it does not end after it starts",
            rng.span, "a window range runs from its start to a later end on the same day, e.g. 09:00-17:00"))


def _days(ctx: CheckContext, rng: n.WindowRange) -> None:
    """DAYS: a day name, a range of two day names, or daily/weekdays/weekends."""
    parts = rng.days.split("-")
    if len(parts) == 1 and parts[0] in DAY_GROUPS + DAY_NAMES:
        return
    if len(parts) == 2 and all(p in DAY_NAMES for p in parts):
        return
    if len(parts) == 2:
        bad = next(p for p in parts if p not in DAY_NAMES)
        guess = did_you_mean(bad, DAY_NAMES)
        help = (f"did you mean {rng.days.replace(bad, guess, 1)}?" if guess
                else "a range joins two day names, e.g. mon-fri")
    else:
        guess = did_you_mean(rng.days, DAY_NAMES + DAY_GROUPS)
        help = (f"did you mean {guess}? " if guess else "") + "days are mon ... sun, a range such as mon-fri, " \
            "daily, weekdays or weekends"
    ctx.report(Diagnostic.make("E104", f"unknown days {rng.days} in a window", rng.days_span, help))


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"

