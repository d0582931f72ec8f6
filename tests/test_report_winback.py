"""The win-back section on a simulated store (tests/fixtures/report/scenario.yaml).

The `winback` playbook enrolls churned customers at the start (Monday
2026-11-23 00:00), sends `hello`, three days later an offer (20% for the
`high` segment, 10% for `low`; by email when `hello` was opened, else SMS),
four days later a 25% last call; a purchase or `status` back to active
ends it as `won_back`.

  w1 high  opened; 20% by email 11-26; bought 1,200 on 11-27 12:00: won back
           (4.5 days).  Churned again on 12-20: re-enrolled, hello sent (active)
  w2 low   10% by SMS 11-26; status active 11-28, so `stop when` ends it as
           won back before `last` on 11-30 00:00 (7 days); bought 300 on 12-05
  w3 high  opened; 20% by email, 25% by email; completed
  w4 high  unsubscribed 11-24 before any offer; stopped
  w5 high  bought 2,000 on 11-24 08:00 before any offer: won back (1 1/3 days)
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fsl.report import build_report
from fsl.report.facts import Facts
from fsl.report.sources import from_scenario
from fsl.report.winback import churn_instants, is_winback
from fsl.engine.model import ActionRecord, Contact, Enrollment
from fsl.engine.memstore import MemoryStore

FIXTURES = Path(__file__).parent / "fixtures" / "report"
UTC = timezone.utc


@pytest.fixture(scope="module")
def src():
    return from_scenario(FIXTURES / "scenario.yaml")


@pytest.fixture(scope="module")
def wb(src):
    return build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config).winback


def rows(rs):
    return [(r.key, r.enrolled, r.won_back, r.rate, r.revenue) for r in rs]


def test_only_playbooks_that_can_win_back_are_in_the_section(wb, src):
    assert wb.playbooks == ["winback"]
    plans = {p.playbook: p for p in src.plans}
    assert is_winback(plans["winback"], []) and not is_winback(plans["followup"], [])


def test_rate_revenue_and_time_to_win_back(wb):
    assert (wb.enrolled, wb.won_back, wb.rate) == (6, 3, 0.5)  # w1 twice, w2..w5; won: w1 (first), w2, w5
    assert wb.revenue == 3500  # w1 1,200 + w2 300 (after its win-back) + w5 2,000
    assert wb.median_days_to_win_back == 4.5  # 1.33, 4.5, 7 days
    assert rows(wb.by_playbook) == [("winback", 6, 3, 0.5, 3500)]


def test_rate_by_segment_evaluates_the_playbooks_let(wb):
    assert wb.segment_source == "evaluated"
    assert [d.name for d in wb.by_segment] == ["segment"]
    # high: w1 (twice), w3, w4, w5 -- won w1, w5; low: w2, won
    assert rows(wb.by_segment[0].rows) == [("high", 5, 2, 0.4, 3200), ("low", 1, 1, 1.0, 300)]


def test_rate_by_channel_counts_the_enrollments_each_channel_reached(wb):
    assert rows(wb.by_channel) == [("email", 6, 3, 0.5, 3500), ("sms", 1, 1, 1.0, 300)]
    # last send before the win: w1 offer email, w5 hello email, w2 offer sms
    assert [(r.key, r.last_touch_wins) for r in wb.by_channel] == [("email", 2), ("sms", 1)]


def test_rate_by_offer_depth_uses_the_deepest_offer_sent(wb):
    assert rows(wb.by_offer) == [
        ("no offer", 3, 1, 1 / 3, 2000),  # w4, w5, w1's second enrollment; w5 won
        ("10%", 1, 1, 1.0, 300),  # w2
        ("20%", 1, 1, 1.0, 1200),  # w1
        ("25%", 1, 0, 0.0, 0),  # w3
    ]


def test_rechurn_within_90_days(wb):
    assert wb.rechurned == 1  # w1: won back 11-27, churned (update and re-enrollment) 12-20
    assert wb.rechurn_rate == 1 / 3
    assert wb.rechurn_pending == 2  # w2, w5: won back less than 90 days before 12-22


def test_cohort_filter_applies_to_win_back(src):
    rep = build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config,
                       until=datetime(2026, 12, 1, tzinfo=UTC))
    wb = rep.winback
    assert (wb.enrolled, wb.won_back, wb.rate, wb.revenue) == (5, 3, 0.6, 3500)  # w1's re-entry is out
    assert rows(wb.by_offer)[0] == ("no offer", 2, 1, 0.5, 2000)


# ------------------------------------------------- re-churn signals, one by one

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _store(**contact_fields) -> tuple[MemoryStore, Enrollment]:
    store = MemoryStore()
    store.put_contact(Contact("c1", {"id": "c1", **contact_fields}))
    en = Enrollment(1, "wb", "h", "c1", None, T0 - timedelta(days=3), status="ended",
                    ended_at=T0, outcome="won_back", reason="stop on purchased")
    store.add_enrollment(en)
    return store, en


def test_a_set_action_to_churned_is_a_churn():
    store, en = _store()
    store.add_action(ActionRecord((9, "alert", 0, 0), T0 + timedelta(days=10), 9, "c1", None, "risk", "alert",
                                  "set", data={"path": ["contact", "status"], "value": "churned"}))
    facts = Facts(store, T0 + timedelta(days=100))
    assert churn_instants(facts, "c1", ["wb"]) == [en.started_at, T0 + timedelta(days=10)]
    rep = build_report(store, as_of=T0 + timedelta(days=100))
    assert (rep.winback.rechurned, rep.winback.rechurn_rate) == (1, 1.0)


def test_a_churned_at_field_is_a_churn_and_so_is_re_entry():
    store, en = _store(churned_at=T0 + timedelta(days=95))
    store.add_enrollment(Enrollment(2, "wb", "h", "c1", None, T0 + timedelta(days=30)))
    facts = Facts(store, T0 + timedelta(days=200))
    assert churn_instants(facts, "c1", ["wb"]) == [en.started_at, T0 + timedelta(days=30), T0 + timedelta(days=95)]


def test_rechurn_after_90_days_does_not_count():
    store, _ = _store(churned_at=T0 + timedelta(days=91))
    rep = build_report(store, as_of=T0 + timedelta(days=200))
    assert (rep.winback.won_back, rep.winback.rechurned, rep.winback.rechurn_pending) == (1, 0, 0)
    assert rep.winback.segment_source == "unavailable: no plan"
