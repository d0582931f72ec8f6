"""Tests of fsl.timecalc: the conformance instants reproduced by hand,
the DST and window edge cases, and properties of next_allowed and next_cron."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from fsl.timecalc import (
    HolidayCalendar,
    WindowRange,
    add_duration,
    at_day,
    ceil_minute,
    holiday_calendar,
    is_allowed,
    is_holiday,
    is_valid_cron,
    is_valid_holiday_code,
    localize,
    next_allowed,
    next_cron,
    parse_days,
    parse_hhmm,
    parse_window,
    resolve_zone,
    to_local,
)

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_17 = parse_window("weekdays 09:00-17:00")


def z(text: str) -> datetime:
    """An instant from ``2026-11-27T23:30Z`` style text."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- zones -----------------------------------------------------------------


def test_resolve_zone_prefers_valid_data_value():
    assert resolve_zone("Asia/Shanghai", "America/Chicago", "UTC") == SHANGHAI


def test_resolve_zone_invalid_value_falls_back_to_default():
    assert resolve_zone("Mars/Olympus", "America/Chicago", "Europe/Berlin") == CHICAGO


def test_resolve_zone_missing_value_and_default_uses_project_default():
    assert resolve_zone(None, None, "Europe/Berlin") == BERLIN
    assert resolve_zone("", "Not/AZone", "Europe/Berlin") == BERLIN


def test_resolve_zone_nothing_valid_is_utc():
    assert resolve_zone("Mars/Olympus", "../etc/passwd", None) == ZoneInfo("UTC")
    assert resolve_zone(None, None, None) == ZoneInfo("UTC")


def test_resolve_zone_never_raises_on_odd_values():
    assert resolve_zone(42, "\x00", "   ") == ZoneInfo("UTC")  # type: ignore[arg-type]


# --- minutes and localisation -------------------------------------------------


def test_ceil_minute_rounds_up_partial_minutes():
    assert ceil_minute(z("2026-11-23T14:04:00.000001Z")) == z("2026-11-23T14:05:00Z")
    assert ceil_minute(z("2026-11-23T14:04:59Z")) == z("2026-11-23T14:05:00Z")


def test_ceil_minute_keeps_whole_minutes():
    assert ceil_minute(z("2026-11-23T14:05:00Z")) == z("2026-11-23T14:05:00Z")


def test_localize_gap_moves_forward_by_the_gap():
    # 2027-03-14 02:30 does not exist in New York: 03:30 EDT.
    assert localize(datetime(2027, 3, 14, 2, 30), NY) == z("2027-03-14T07:30:00Z")
    assert localize(datetime(2027, 3, 14, 2, 0), NY) == z("2027-03-14T07:00:00Z")


def test_localize_gap_of_thirty_minutes():
    # Lord Howe Island springs forward by 30 minutes: 02:15 -> 02:45 (+11:00).
    lh = ZoneInfo("Australia/Lord_Howe")
    got = localize(datetime(2026, 10, 4, 2, 15), lh)
    assert to_local(got, lh) == datetime(2026, 10, 4, 2, 45)


def test_localize_ambiguous_is_first_occurrence():
    # 2026-11-01 01:30 happens twice in New York; the first is EDT (-4).
    assert localize(datetime(2026, 11, 1, 1, 30), NY) == z("2026-11-01T05:30:00Z")
    assert localize(datetime(2026, 11, 1, 1, 30, fold=1), NY) == z("2026-11-01T05:30:00Z")


def test_localize_plain_time():
    assert localize(datetime(2026, 7, 1, 9, 0), NY) == z("2026-07-01T13:00:00Z")


# --- durations (S03, S04, S10) ---------------------------------------------


def test_s03_one_day_across_fall_back_keeps_wall_clock():
    b = add_duration(z("2026-10-31T13:00:00Z"), 1, "days", NY)
    assert b == z("2026-11-01T14:00:00Z")


def test_s03_hours_are_absolute():
    assert add_duration(z("2026-11-01T14:00:00Z"), 24, "hours", NY) == z("2026-11-02T14:00:00Z")


def test_s04_one_day_after_gap_shifted_time():
    assert add_duration(z("2027-03-14T07:30:00Z"), 1, "days", NY) == z("2027-03-15T07:30:00Z")


def test_day_landing_in_gap_moves_forward():
    # 02:30 EST on Saturday + 1 day = 02:30 on the spring day -> 03:30 EDT.
    got = add_duration(z("2027-03-13T07:30:00Z"), 1, "days", NY)
    assert got == z("2027-03-14T07:30:00Z")


def test_weeks_are_calendar_local():
    # S10 step d: 1 week after Tue 2026-12-01 09:00 EST.
    assert add_duration(z("2026-12-01T14:00:00Z"), 1, "weeks", NY) == z("2026-12-08T14:00:00Z")
    # Across the fall-back: a week is 169 hours.
    assert add_duration(z("2026-10-28T13:00:00Z"), 1, "week", NY) == z("2026-11-04T14:00:00Z")


def test_minutes_and_seconds_are_absolute():
    t = z("2026-11-01T05:30:00Z")
    assert add_duration(t, 90, "minutes", NY) == z("2026-11-01T07:00:00Z")
    assert add_duration(t, 30, "seconds", NY) == z("2026-11-01T05:30:30Z")


def test_s10_business_days_skip_weekend():
    us = holiday_calendar("US")
    got = add_duration(z("2026-11-27T14:00:00Z"), 2, "business_days", NY, us)
    assert got == z("2026-12-01T14:00:00Z")


def test_business_days_skip_holidays_only_with_calendar():
    us = holiday_calendar("US")
    wed = z("2026-11-25T14:00:00Z")  # Thanksgiving is Thu 26th
    assert add_duration(wed, 1, "business_days", NY, us) == z("2026-11-27T14:00:00Z")
    assert add_duration(wed, 1, "business_days", NY) == z("2026-11-26T14:00:00Z")


def test_business_days_from_saturday():
    sat = z("2026-11-28T15:00:00Z")
    assert add_duration(sat, 1, "business_days", NY) == z("2026-11-30T15:00:00Z")


def test_unknown_unit_raises():
    with pytest.raises(ValueError):
        add_duration(z("2026-11-28T15:00:00Z"), 1, "fortnights", NY)


def test_the_engine_and_the_parsers_accept_the_same_unit_spellings():
    """One table (fsl/durations.py): timecalc used to accept `bd` and not `mins`,
    `secs` or `business day`; fsl.yaml and playbooks the other way round."""
    from fsl.durations import parse_duration

    t = z("2026-11-25T14:00:00Z")
    for word, unit in [("mins", "minutes"), ("secs", "seconds"), ("business day", "business_days"),
                       ("hours", "hours"), ("w", "weeks"), ("Business  Days", "business_days")]:
        assert parse_duration(f"2 {word}").unit == unit
        assert add_duration(t, 2, word, NY) == add_duration(t, 2, unit, NY)
    for word in ("bd", "fortnight", "hrs"):
        with pytest.raises(ValueError):
            parse_duration(f"2 {word}")
        with pytest.raises(ValueError):
            add_duration(t, 2, word, NY)


# --- at day (S03, S04, S14) ------------------------------------------------


def test_s03_at_day_4_after_fall_back():
    assert at_day(z("2026-10-31T13:00:00Z"), NY, 4, 9 * 60) == z("2026-11-03T14:00:00Z")


def test_s04_at_day_in_gap():
    assert at_day(z("2027-03-13T15:00:00Z"), NY, 2, 2 * 60 + 30) == z("2027-03-14T07:30:00Z")


def test_s14_at_day_without_time_keeps_enrollment_time_of_day():
    utc = ZoneInfo("UTC")
    enrolled = z("2026-11-24T15:30:00Z")
    assert at_day(enrolled, utc, 3, None) == z("2026-11-26T15:30:00Z")
    assert at_day(enrolled, utc, 7, 10 * 60) == z("2026-11-30T10:00:00Z")


def test_s14_day_one_time_already_passed_is_returned_as_is():
    # The caller takes max(due, now): day 1 09:00 is before a 15:30 enrollment.
    enrolled = z("2026-11-24T15:30:00Z")
    due = at_day(enrolled, ZoneInfo("UTC"), 1, 9 * 60)
    assert due == z("2026-11-24T09:00:00Z")
    assert max(due, enrolled) == enrolled


def test_at_day_uses_local_date():
    # 2026-11-25T02:00Z is still Nov 24 in New York: day 2 is Nov 25.
    assert at_day(z("2026-11-25T02:00:00Z"), NY, 2, 9 * 60) == z("2026-11-25T14:00:00Z")


# --- holidays -----------------------------------------------------------------


def test_holiday_codes():
    assert is_valid_holiday_code("US")
    assert is_valid_holiday_code("DE")
    assert is_valid_holiday_code("US-CA")
    assert not is_valid_holiday_code("XX")
    assert not is_valid_holiday_code("US-ZZ")
    assert not is_valid_holiday_code("")
    assert holiday_calendar("XX") is None


def test_holiday_subdivision_differs_from_country():
    us, ca = holiday_calendar("US"), holiday_calendar("US-CA")
    cesar_chavez = date(2026, 3, 31)
    assert is_holiday(ca, cesar_chavez)
    assert not is_holiday(us, cesar_chavez)


def test_holidays_any_year():
    us = holiday_calendar("US")
    assert isinstance(us, HolidayCalendar)
    assert date(2026, 11, 26) in us  # Thanksgiving 2026
    assert date(2041, 11, 28) in us  # Thanksgiving 2041, a year never loaded before
    assert date(2031, 12, 25) in us
    assert date(2026, 11, 25) not in us
    assert not is_holiday(None, date(2026, 12, 25))
    assert is_holiday(holiday_calendar("DE"), date(2026, 10, 3))  # German Unity Day


def test_is_holiday_accepts_datetime():
    assert is_holiday(holiday_calendar("US"), datetime(2026, 12, 25, 10, 0))


# --- windows ------------------------------------------------------------------


def test_parse_days():
    assert parse_days("mon") == {0}
    assert parse_days("Sun") == {6}
    assert parse_days("mon-fri") == {0, 1, 2, 3, 4}
    assert parse_days("weekdays") == {0, 1, 2, 3, 4}
    assert parse_days("weekends") == {5, 6}
    assert parse_days("daily") == set(range(7))
    assert parse_days("fri-mon") == {4, 5, 6, 0}  # wraps past Sunday
    assert parse_days("wed-wed") == {2}
    for bad in ("funday", "mon-", "monday-fri", ""):
        with pytest.raises(ValueError):
            parse_days(bad)


def test_parse_hhmm_and_window():
    assert parse_hhmm("09:00") == 540
    assert parse_hhmm("23:59") == 1439
    for bad in ("24:00", "9:00", "12:60"):
        with pytest.raises(ValueError):
            parse_hhmm(bad)
    assert parse_window("weekends 10:00-20:00, weekdays 19:00-21:00") == (
        WindowRange(frozenset({5, 6}), 600, 1200),
        WindowRange(frozenset(range(5)), 1140, 1260),
    )


def test_s02_friday_evening_waits_for_monday_in_own_zone():
    t = z("2026-11-27T23:30:00Z")
    assert next_allowed(t, CHICAGO, WEEKDAYS_9_17) == z("2026-11-30T15:00:00Z")
    assert next_allowed(t, SHANGHAI, WEEKDAYS_9_17) == z("2026-11-30T01:00:00Z")


def test_s02_later_steps():
    # c3 step d: Tue 13:00 Shanghai + 5 hours = 18:00 -> Wed 09:00.
    assert next_allowed(z("2026-12-01T10:00:00Z"), SHANGHAI, WEEKDAYS_9_17) == z(
        "2026-12-02T01:00:00Z"
    )
    # Inside: unchanged.
    assert next_allowed(z("2026-12-01T05:00:00Z"), SHANGHAI, WEEKDAYS_9_17) == z(
        "2026-12-01T05:00:00Z"
    )


def test_window_end_is_exclusive():
    # 17:00 Chicago on Tue is outside 09:00-17:00; 16:59 is inside.
    assert next_allowed(z("2026-12-01T23:00:00Z"), CHICAGO, WEEKDAYS_9_17) == z(
        "2026-12-02T15:00:00Z"
    )
    assert next_allowed(z("2026-12-01T22:59:00Z"), CHICAGO, WEEKDAYS_9_17) == z(
        "2026-12-01T22:59:00Z"
    )
    assert next_allowed(z("2026-12-01T15:00:00Z"), CHICAGO, WEEKDAYS_9_17) == z(
        "2026-12-01T15:00:00Z"
    )


def test_s10_thanksgiving_is_skipped():
    us = holiday_calendar("US")
    # Thu 2026-11-26 09:00 EST is Thanksgiving -> Fri 09:00.
    assert next_allowed(z("2026-11-26T14:00:00Z"), NY, WEEKDAYS_9_17, us) == z(
        "2026-11-27T14:00:00Z"
    )


def test_holidays_without_window_go_to_next_midnight():
    us = holiday_calendar("US")
    got = next_allowed(z("2026-12-25T15:00:00Z"), NY, None, us)
    assert got == z("2026-12-26T05:00:00Z")  # Dec 26 00:00 EST
    assert next_allowed(z("2026-12-24T15:00:00Z"), NY, [], us) == z("2026-12-24T15:00:00Z")


def test_no_window_no_holidays_is_identity():
    t = z("2026-12-25T15:00:07Z")
    assert next_allowed(t, NY, None) == t


def test_multiple_ranges():
    w = parse_window("weekends 10:00-20:00, weekdays 19:00-21:00")
    # Fri 21:30 Berlin -> Sat 10:00.
    assert next_allowed(z("2026-11-27T20:30:00Z"), BERLIN, w) == z("2026-11-28T09:00:00Z")
    # Sun 20:00 Berlin -> Mon 19:00.
    assert next_allowed(z("2026-11-29T19:00:00Z"), BERLIN, w) == z("2026-11-30T18:00:00Z")
    # Mon 12:00 Berlin -> Mon 19:00.
    assert next_allowed(z("2026-11-30T11:00:00Z"), BERLIN, w) == z("2026-11-30T18:00:00Z")


def test_overnight_range():
    w = (WindowRange(frozenset({4}), 22 * 60, 6 * 60),)  # fri 22:00-06:00
    utc = ZoneInfo("UTC")
    assert next_allowed(z("2026-11-27T12:00:00Z"), utc, w) == z("2026-11-27T22:00:00Z")
    assert next_allowed(z("2026-11-28T05:59:00Z"), utc, w) == z("2026-11-28T05:59:00Z")
    assert next_allowed(z("2026-11-28T06:00:00Z"), utc, w) == z("2026-12-04T22:00:00Z")


def test_window_start_in_gap_opens_when_clock_jumps():
    w = parse_window("sun 02:00-04:00")
    # Spring day 2027-03-14: 02:00 does not exist; the window opens 03:00 EDT.
    assert next_allowed(z("2027-03-14T05:00:00Z"), NY, w) == z("2027-03-14T07:00:00Z")
    w2 = parse_window("sun 02:30-04:00")
    assert next_allowed(z("2027-03-14T05:00:00Z"), NY, w2) == z("2027-03-14T07:00:00Z")


def test_window_wholly_in_gap_skips_that_day():
    w = parse_window("sun 02:00-02:30")
    assert next_allowed(z("2027-03-14T05:00:00Z"), NY, w) == z("2027-03-21T06:00:00Z")


def test_window_in_repeated_hour():
    w = parse_window("sun 01:00-01:30")
    # First occurrence, 01:00 EDT.
    assert next_allowed(z("2026-11-01T04:00:00Z"), NY, w) == z("2026-11-01T05:00:00Z")
    # After the first occurrence closes, the second occurrence (01:00 EST) opens.
    assert next_allowed(z("2026-11-01T05:45:00Z"), NY, w) == z("2026-11-01T06:00:00Z")
    # A start inside the repeated hour opens twice: 01:15 EDT, then 01:15 EST.
    w2 = parse_window("sun 01:15-01:30")
    assert next_allowed(z("2026-11-01T05:20:00Z"), NY, w2) == z("2026-11-01T05:20:00Z")
    assert next_allowed(z("2026-11-01T05:30:00Z"), NY, w2) == z("2026-11-01T06:15:00Z")


def test_fall_back_lands_inside_window():
    # 00:30-01:30: at 06:00Z the clock goes from 01:59 EDT back to 01:00 EST.
    w = parse_window("sun 00:30-01:30")
    assert next_allowed(z("2026-11-01T05:45:00Z"), NY, w) == z("2026-11-01T06:00:00Z")


def test_empty_window_raises():
    with pytest.raises(ValueError):
        next_allowed(z("2026-11-27T12:00:00Z"), NY, [(frozenset(), 540, 1020)])
    with pytest.raises(ValueError):
        next_allowed(z("2026-11-27T12:00:00Z"), NY, [(frozenset({0}), 540, 540)])


def test_window_only_on_holidays_raises():
    # A calendar on which every day is a holiday: the search must give up.
    everything = type("All", (), {"__contains__": lambda self, d: True})()
    with pytest.raises(ValueError):
        next_allowed(z("2026-11-27T12:00:00Z"), NY, WEEKDAYS_9_17, everything)


def test_lists_and_plain_tuples_accepted():
    rng = [(frozenset({0, 1, 2, 3, 4}), 540, 1020)]
    assert next_allowed(z("2026-11-27T23:30:00Z"), CHICAGO, rng) == z("2026-11-30T15:00:00Z")
    assert is_allowed(z("2026-11-30T15:00:00Z"), CHICAGO, rng)
    assert not is_allowed(z("2026-11-30T23:00:00Z"), CHICAGO, rng)
    unhashable = [[{0, 1, 2, 3, 4}, 540, 1020]]
    assert next_allowed(z("2026-11-27T23:30:00Z"), CHICAGO, unhashable) == z(
        "2026-11-30T15:00:00Z"
    )


# --- cron -----------------------------------------------------------------------


def test_s13_cron_across_end_of_summer_time():
    first = next_cron("0 10 * * MON", z("2026-10-14T12:00:00Z"), BERLIN)
    assert first == z("2026-10-19T08:00:00Z")
    assert next_cron("0 10 * * MON", first, BERLIN) == z("2026-10-26T09:00:00Z")


def test_cron_is_strictly_after():
    assert next_cron("0 10 * * *", z("2026-10-19T08:00:00Z"), BERLIN) == z("2026-10-20T08:00:00Z")
    assert next_cron("0 10 * * *", z("2026-10-19T07:59:30Z"), BERLIN) == z("2026-10-19T08:00:00Z")


def test_cron_in_gap_moves_forward():
    assert next_cron("30 2 * * *", z("2027-03-14T05:00:00Z"), NY) == z("2027-03-14T07:30:00Z")
    assert next_cron("30 2 * * *", z("2027-03-14T07:30:00Z"), NY) == z("2027-03-15T06:30:00Z")


def test_cron_does_not_repeat_in_fall_back_hour():
    first = next_cron("30 1 * * *", z("2026-11-01T04:00:00Z"), NY)
    assert first == z("2026-11-01T05:30:00Z")  # 01:30 EDT
    assert next_cron("30 1 * * *", first, NY) == z("2026-11-02T06:30:00Z")  # not 01:30 EST


def test_cron_special_fields_via_croniter():
    # L (last day of month) and # (nth weekday) go through croniter.
    assert next_cron("0 9 L * *", z("2026-02-10T00:00:00Z"), ZoneInfo("UTC")) == z(
        "2026-02-28T09:00:00Z"
    )
    assert next_cron("0 9 * * 1#2", z("2026-11-01T00:00:00Z"), ZoneInfo("UTC")) == z(
        "2026-11-09T09:00:00Z"
    )


def test_cron_feb_29():
    assert next_cron("0 0 29 2 *", z("2026-03-01T00:00:00Z"), ZoneInfo("UTC")) == z(
        "2028-02-29T00:00:00Z"
    )


def test_cron_never_firing_raises():
    with pytest.raises(ValueError):
        next_cron("0 0 31 2 *", z("2026-03-01T00:00:00Z"), ZoneInfo("UTC"))


def test_is_valid_cron():
    assert is_valid_cron("0 10 * * MON")
    assert is_valid_cron("*/15 9-17 * * 1-5")
    assert not is_valid_cron("0 10 * * FUNDAY")
    assert not is_valid_cron("0 10 * * MON 5")  # 6 fields
    assert not is_valid_cron("10 * * MON")
    assert not is_valid_cron("@weekly")
    assert not is_valid_cron("60 * * * *")
    assert not is_valid_cron("")
    with pytest.raises(ValueError):
        next_cron("0 10 * * FUNDAY", z("2026-10-14T12:00:00Z"), BERLIN)


# --- properties -------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # 30-minute DST
    "America/Santiago",  # transitions at midnight
    "America/Havana",  # transitions at midnight / 01:00
    "Pacific/Chatham",  # +12:45 / +13:45
]
CALENDARS = [None, "US", "DE", "US-CA"]

any_instant = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)


def _offset_changes(zone_name: str, years: range) -> list[datetime]:
    """Hours at which the zone's UTC offset changes, found by an hourly scan
    (independent of the implementation's bisection)."""
    zone = ZoneInfo(zone_name)
    t = datetime(years.start, 1, 1, tzinfo=UTC)
    end = datetime(years.stop, 1, 1, tzinfo=UTC)
    out, prev = [], t.astimezone(zone).utcoffset()
    while t < end:
        t += timedelta(hours=1)
        off = t.astimezone(zone).utcoffset()
        if off != prev:
            out.append(t)
            prev = off
    return out


# DST edge cases only show up near transitions: aim a share of instants there.
TRANSITIONS = {name: _offset_changes(name, range(2026, 2028)) for name in ZONES}
ALL_TRANSITIONS = sorted({u for changes in TRANSITIONS.values() for u in changes})


def _near(changes: list[datetime]):
    return st.builds(
        lambda u, minutes: u + timedelta(minutes=minutes),
        st.sampled_from(changes),
        st.integers(-3 * 1440, 1440),
    )


instants = st.one_of(any_instant, _near(ALL_TRANSITIONS))


@st.composite
def instants_for(draw, zone_name: str, ranges: tuple[WindowRange, ...]):
    """Random instants, instants near this zone's transitions, and instants
    at (or a minute around) a range boundary on a transition day."""
    zone = ZoneInfo(zone_name)
    changes = TRANSITIONS[zone_name]
    mode = draw(st.sampled_from(["any", "near", "boundary"]))
    if mode == "any":
        return draw(any_instant)
    if mode == "near" and changes:
        return draw(_near(changes))
    base = draw(st.sampled_from(changes)) if changes else draw(any_instant)
    day = base.astimezone(zone).date() + timedelta(days=draw(st.integers(-1, 1)))
    r = draw(st.sampled_from(ranges))
    minute = draw(st.sampled_from([r.start_minute, r.end_minute])) + draw(
        st.sampled_from([0, 0, -1, 1, -60, -90])
    )
    wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
    return localize(wall, zone) + timedelta(seconds=draw(st.sampled_from([0, 0, -30, 30])))


# Range starts where gaps and repeated hours usually are.
NEAR_TRANSITION_MINUTES = [0, 15, 30, 60, 75, 90, 120, 135, 150, 180, 1380, 1410]


@st.composite
def window_ranges(draw):
    n = draw(st.integers(1, 3))
    ranges = []
    for _ in range(n):
        days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1, max_size=7)))
        start = draw(st.one_of(st.integers(0, 1439), st.sampled_from(NEAR_TRANSITION_MINUTES)))
        length = draw(st.one_of(st.integers(1, 1439), st.sampled_from([15, 30, 45, 60, 90])))
        end = draw(st.sampled_from([(start + length) % 1440, start + length]).filter(
            lambda e, start=start: e <= 1440 and e != start
        ))
        ranges.append(WindowRange(days, start, end))
    return tuple(ranges)


@settings(max_examples=500, deadline=None)
@given(
    data=st.data(),
    zone_name=st.sampled_from(ZONES),
    ranges=window_ranges(),
    cal_code=st.sampled_from(CALENDARS),
)
def test_next_allowed_properties(data, zone_name, ranges, cal_code):
    t = data.draw(instants_for(zone_name, ranges), label="t")
    zone = ZoneInfo(zone_name)
    cal = holiday_calendar(cal_code) if cal_code else None
    got = next_allowed(t, zone, ranges, cal)
    assert got >= t
    assert is_allowed(got, zone, ranges, cal)
    assert not is_holiday(cal, got.astimezone(zone).date())
    local = got.astimezone(zone)
    tod = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    assert any(_in_range(local.weekday(), tod, r) for r in ranges)
    assert next_allowed(got, zone, ranges, cal) == got  # idempotent
    # Minimal: no whole minute in (t, got) is allowed (boundaries are on minutes).
    if got - t <= timedelta(days=3):
        m = ceil_minute(t)
        if m == t:
            m += timedelta(minutes=1)
        while m < got:
            assert not is_allowed(m, zone, ranges, cal), m
            m += timedelta(minutes=1)


def _in_range(weekday: int, tod: float, r: WindowRange) -> bool:
    """Reference membership, written independently of the implementation."""
    days, s, e = r
    if s < e:
        return weekday in days and s <= tod < e
    return (weekday in days and tod >= s) or ((weekday - 1) % 7 in days and tod < e)


cron_exprs = st.sampled_from(
    [
        "0 10 * * MON",
        "*/15 * * * *",
        "30 2 * * *",
        "0 1 * * *",
        "5 0,12 1,15 * *",
        "0 9-17/2 * * 1-5",
        "45 23 * 1,7 SUN",
        "0 0 29 2 *",
        "59 1 * * 0,6",
    ]
)


@settings(max_examples=300, deadline=None)
@given(after=instants, zone_name=st.sampled_from(ZONES), expr=cron_exprs)
def test_next_cron_matches_croniter_on_wall_clock(after, zone_name, expr):
    zone = ZoneInfo(zone_name)
    got = next_cron(expr, after, zone)
    assert got > after
    # Reference: croniter on naive local times, localising each firing.
    naive = to_local(after, zone)
    while True:
        naive = croniter(expr, naive).get_next(datetime)
        expected = localize(naive, zone)
        if expected > after:
            break
    assert got == expected


def test_one_display_form_for_instants(monkeypatch):
    """fsl.timecalc.iso is the one display form (engine journals, JSON output,
    template context, `fsl review`): UTC to the second with Z; a naive instant
    is UTC whatever the machine's zone (the engine's copy read it as local)."""
    import time as _time

    from fsl.delivery.context import jsonable
    from fsl.engine.timing import iso as engine_iso
    from fsl.timecalc import iso

    monkeypatch.setenv("TZ", "America/New_York")
    _time.tzset()
    try:
        naive = datetime(2026, 11, 23, 15, 0, 30, 500)
        assert iso(naive) == engine_iso(naive) == jsonable(naive) == "2026-11-23T15:00:30Z"
        paris = datetime(2026, 11, 23, 16, 0, tzinfo=ZoneInfo("Europe/Paris"))
        assert iso(paris) == jsonable(paris) == "2026-11-23T15:00:00Z"
        assert iso(None) is None
    finally:
        monkeypatch.delenv("TZ")
        _time.tzset()
