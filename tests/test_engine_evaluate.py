"""Expression semantics of the runtime (LANGUAGE.md section 7), on plan trees
as the compiler writes them."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from fsl.engine.evaluate import Ctx, Dur, compile_expr, truthy
from fsl.engine.model import Contact, Enrollment

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def lit(v):
    return {"lit": v}


def op(name, *args):
    return {"op": name, "args": list(args)}


def path(*parts):
    return {"path": list(parts)}


def ev(tree, zone="UTC", **fields):
    contact = Contact("c1", {"id": "c1", **fields})
    en = Enrollment(1, "p", "h", "c1", None, started_at=datetime(2026, 11, 1, tzinfo=UTC))
    en.vars["n"] = 2
    ctx = Ctx(NOW, contact, enrollment=en, zone=ZoneInfo(zone))
    return compile_expr(tree)(ctx)


@pytest.mark.parametrize("tree, want", [
    (op("+", path("contact", "missing"), lit(1)), None),
    (op("*", lit(None), lit(3)), None),
    (op("neg", lit(None)), None),
    (op("==", path("contact", "missing"), lit(None)), True),
    (op("!=", path("contact", "missing"), lit(None)), False),
    (op("<", path("contact", "missing"), lit(3)), False),
    (op(">=", path("contact", "missing"), lit(3)), False),
    (op("in", lit(None), {"list": [lit(None), lit(1)]}), False),
    (op("not in", lit(None), {"list": [lit(1)]}), False),
    (op("==", lit(1), lit("1")), False),
    (op("<", lit(1), lit("a")), False),  # a type error is false, not a crash
    (op("/", lit(1), lit(0)), None),
    (op("+", lit("a"), lit("b")), "ab"),
    (op("in", lit("vp"), {"list": [lit("c_suite"), lit("vp")]}), True),
    (op("not in", lit("ic"), {"list": [lit("c_suite"), lit("vp")]}), True),
    (op("-", path("vars", "n"), lit(1)), 1),
    ({"if": [path("contact", "missing"), lit("yes"), lit("no")]}, "no"),
])
def test_none_propagates_and_comparisons_with_none_are_false(tree, want):
    assert ev(tree) == want


def test_a_none_condition_is_false_and_not_of_none_is_true():
    assert truthy(None) is False
    assert ev(op("and", path("contact", "missing"), lit(True))) is False
    assert ev(op("or", path("contact", "missing"), lit(True))) is True
    assert ev(op("not", path("contact", "missing"))) is True


def test_datetime_plus_days_is_calendar_local_and_minus_datetime_is_a_duration():
    start = datetime(2026, 10, 31, 13, 0, tzinfo=UTC)  # 09:00 in New York, before DST ends
    plus = ev(op("+", path("contact", "t"), {"dur": [1, "days"]}), "America/New_York", t=start)
    assert plus == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    gap = ev(op("-", lit(None), path("contact", "t")), t=start)
    assert gap is None
    delta = ev(op("-", {"call": "now", "args": []}, path("contact", "t")), t=datetime(2026, 11, 20, 15, tzinfo=UTC))
    assert isinstance(delta, Dur) and delta == Dur(3, "days")
    assert ev(op("<=", op("-", path("contact", "t"), {"call": "now", "args": []}), {"dur": [60, "days"]}),
              t=datetime(2027, 1, 1, tzinfo=UTC)) is True


def test_dates_meet_datetimes_at_the_start_of_the_local_day():
    day = date(2026, 11, 23)
    assert ev(op("<", path("contact", "d"), {"call": "now", "args": []}), "America/New_York", d=day) is True
    # 15:00Z on the 23rd is midnight of the 24th in Tokyo
    tokyo = dict(zone="Asia/Tokyo", d=date(2026, 11, 24))
    assert ev(op(">=", path("contact", "d"), {"call": "now", "args": []}), **tokyo) is True
    assert ev(op(">", path("contact", "d"), {"call": "now", "args": []}), **tokyo) is False
    assert ev(op("==", {"date": "2026-11-23"}, path("contact", "d")), d=day) is True


def test_days_since_counts_whole_days_on_the_contact_wall_clock():
    call = {"call": "days_since", "args": [path("contact", "t")]}
    assert ev(call, t=datetime(2026, 11, 20, 15, 0, tzinfo=UTC)) == 3
    assert ev(call, t=datetime(2026, 11, 20, 15, 1, tzinfo=UTC)) == 2
    assert ev(call) is None


def test_lower_len_coalesce():
    assert ev({"call": "lower", "args": [lit("TeSt")]}) == "test"
    assert ev({"call": "lower", "args": [path("contact", "missing")]}) is None
    assert ev({"call": "len", "args": [{"list": [lit(1), lit(2)]}]}) == 2
    assert ev({"call": "coalesce", "args": [path("contact", "missing"), lit(None), lit("x")]}) == "x"


def test_enrollment_started_at_and_vars_paths():
    assert ev(path("enrollment", "started_at")) == datetime(2026, 11, 1, tzinfo=UTC)
    assert ev(path("vars", "n")) == 2
    assert ev(path("vars", "missing")) is None


def test_engagement_functions_are_false_without_an_enrollment():
    contact = Contact("c1", {"id": "c1"})
    ctx = Ctx(NOW, contact)
    assert compile_expr({"call": "opened", "args": [{"name": "a"}]})(ctx) is False
