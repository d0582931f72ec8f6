"""`fsl report` figures per playbook and step, on a store filled by simulation.

tests/fixtures/report/scenario.yaml runs three playbooks on fourteen
contacts; every expected figure below is counted by hand from that file (the
comments say from which events).  The `followup` playbook (no window, so no
deferrals) has five contacts, all enrolled Monday 2026-11-23 10:00:

  f1  recap delivered, auto-reply, opened; checkin delivered, opened, clicked
      case_study and pricing; last: email case_followup; completed
  f2  recap delivered, opened; human reply 30 h after the recap; converted
  f3  recap bounced; stopped
  f4  recap opened; checkin opened; human reply 72 h after the recap
      (24 h after the checkin); converted
  f5  nothing opened; last: sms + call task; unsubscribed from the sms; completed
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from fsl.report import build_report
from fsl.report.facts import Facts, deferral_cause
from fsl.report.sources import from_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "report"
UTC = timezone.utc


@pytest.fixture(scope="module")
def src():
    return from_scenario(FIXTURES / "scenario.yaml")


def report(src, **kw):
    return build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config, source="test", **kw)


def pb(rep, name):
    return next(p for p in rep.playbooks if p.name == name)


def step(ps, name):
    return next(s for s in ps.steps if s.name == name)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_playbooks_are_listed_by_name_with_their_plan_header(src):
    rep = report(src)
    assert [p.name for p in rep.playbooks] == ["followup", "nudge", "winback"]
    ps = pb(rep, "followup")
    assert (ps.description, ps.owner) == ("Recap, check-in and a last note after a meeting", "sales-ops")
    assert rep.as_of == "2026-12-22T00:00:00Z" and rep.notes == []


def test_followup_enrollments_and_outcomes(src):
    ps = pb(report(src), "followup")
    assert ps.enrolled == 5
    assert ps.active == 0
    assert ps.outcomes == {"completed": 2, "converted": 2, "stopped": 1}  # f1 f5 / f2 f4 / f3


def test_followup_sends_tasks_and_engagement_count_enrollments_once(src):
    ps = pb(report(src), "followup")
    assert ps.messaged == 5
    assert ps.sent == {"email": 9, "sms": 1}  # 5 recaps + 3 checkins + f1's case_followup; f5's sms
    assert ps.tasks == {"call": 1}  # f5
    e = ps.engagement
    assert (e.delivered, e.opened, e.clicked, e.replied, e.bounced, e.unsubscribed) == (2, 3, 1, 3, 1, 1)
    assert e.clicked_by_link == {"case_study": 1, "pricing": 1}  # f1 clicked both: one enrollment each
    assert e.replied_by_kind == {"auto_reply": 1, "human": 2}


def test_median_time_to_first_reply_ignores_auto_replies(src):
    ps = pb(report(src), "followup")
    # f2: 30 h, f4: 72 h after the first send; f1's auto-reply is no answer
    assert ps.median_hours_to_first_reply == 51.0
    assert ps.replies_timed == 2


def test_followup_per_step(src):
    ps = pb(report(src), "followup")
    assert [s.name for s in ps.steps] == ["recap", "checkin", "last"]
    recap, checkin, last = ps.steps
    assert (recap.reached, recap.executed, recap.messaged, recap.sent) == (5, 5, 5, {"email": 5})
    r = recap.engagement
    assert (r.delivered, r.opened, r.clicked, r.replied, r.bounced, r.unsubscribed) == (2, 3, 0, 2, 1, 0)
    assert r.replied_by_kind == {"auto_reply": 1, "human": 1}
    assert recap.median_hours_to_first_reply == 30.0  # f2

    assert (checkin.reached, checkin.executed, checkin.messaged, checkin.sent) == (3, 3, 3, {"email": 3})
    c = checkin.engagement
    assert (c.delivered, c.opened, c.clicked, c.replied, c.bounced, c.unsubscribed) == (1, 2, 1, 1, 0, 0)
    assert c.clicked_by_link == {"case_study": 1, "pricing": 1}
    assert checkin.median_hours_to_first_reply == 24.0  # f4: checkin Wed 10:00, reply Thu 10:00

    assert (last.reached, last.executed, last.messaged) == (2, 2, 2)
    assert (last.sent, last.tasks) == ({"email": 1, "sms": 1}, {"call": 1})
    assert last.engagement.unsubscribed == 1  # f5, after the enrollment completed: the message still counts
    assert last.median_hours_to_first_reply is None


def test_funnel_follows_plan_order(src):
    ps = pb(report(src), "followup")
    assert [(f.stage, f.count, f.rate) for f in ps.funnel] == [
        ("enrolled", 5, 1.0), ("recap", 5, 1.0), ("checkin", 3, 0.6), ("last", 2, 0.4)]


def test_nudge_and_winback_funnels(src):
    rep = report(src)
    nudge, winback = pb(rep, "nudge"), pb(rep, "winback")
    assert [(f.stage, f.count) for f in nudge.funnel] == [("enrolled", 4), ("first", 4), ("second", 3)]
    assert (nudge.active, nudge.outcomes, nudge.sent, nudge.tasks) == (1, {"completed": 3}, {"email": 7}, {"call": 4})
    # w1 twice (won back, then churned again and re-enrolled), w2..w5
    assert [(f.stage, f.count) for f in winback.funnel] == [("enrolled", 6), ("hello", 6), ("deal_offer", 3), ("last", 1)]
    assert winback.outcomes == {"completed": 1, "unsubscribed": 1, "won_back": 3}  # w4 opted out: suppressed
    assert winback.active == 1
    assert step(winback, "deal_offer").sent == {"email": 2, "sms": 1}
    assert (winback.engagement.opened, winback.engagement.unsubscribed) == (2, 1)  # w1, w3 / w4


def test_cohort_is_enrollments_started_in_the_period(src):
    rep = report(src, since=t("2026-11-23T12:00"), until=t("2026-12-21T00:00"))
    # f* and e1 started at 10:00 (before); w* at 00:00; e4 on 12-21 (excluded): e2, e3 and w1's re-entry remain
    assert [(p.name, p.enrolled) for p in rep.playbooks] == [("followup", 0), ("nudge", 2), ("winback", 1)]
    assert pb(rep, "followup").funnel[1].rate is None  # nothing to divide by
    assert rep.since == "2026-11-23T12:00:00Z" and rep.until == "2026-12-21T00:00:00Z"


def test_playbook_filter_and_unknown_playbook(src):
    rep = report(src, playbook="nudge")
    assert [p.name for p in rep.playbooks] == ["nudge"]
    assert rep.winback is None  # nudge does not win back
    assert [r.playbook for r in rep.execution.by_playbook] == ["nudge"]
    rep = report(src, playbook="nope")
    assert [(p.name, p.enrolled) for p in rep.playbooks] == [("nope", 0)]
    assert "no playbook named 'nope'" in rep.notes[0]


def test_outcomes_by_week_count_ends_in_the_period(src):
    rep = report(src)
    assert [(w.week, w.outcomes) for w in rep.outcomes_by_week] == [
        # followup f1 f5 completed, f2 f4 converted, f3 stopped; nudge e1 e2 completed;
        # winback w5 w1 won back, w4 unsubscribed (an opt-out ends it as `unsubscribed`, SIGNALS.md 1)
        ("2026-11-23", {"completed": 4, "converted": 2, "stopped": 1, "unsubscribed": 1, "won_back": 2}),
        # nudge e3 and winback w3 completed, w2 won back (Monday 11-30)
        ("2026-11-30", {"completed": 2, "won_back": 1}),
    ]
    rep = report(src, since=t("2026-11-30T00:00"))
    assert [(w.week, sum(w.outcomes.values())) for w in rep.outcomes_by_week] == [("2026-11-30", 3)]


def test_without_plans_steps_come_in_the_order_they_ran(src):
    rep = build_report(src.store, as_of=src.as_of, playbook="followup")
    assert [s.name for s in rep.playbooks[0].steps] == ["recap", "checkin", "last"]
    assert any("plans not available" in n for n in rep.notes)
    assert rep.winback is None or rep.winback.segment_source.startswith("unavailable")


def test_event_naming_no_message_goes_to_the_last_step_that_sent(tmp_path):
    """A reply that names no step concerns every running enrollment of the
    contact (RUNTIME.md / runtime README), attributed to its latest send."""
    scn = tmp_path / "s.yaml"
    scn.write_text(f"""
playbook: {FIXTURES / 'followup.fsl'}
config: {FIXTURES / 'fsl.yaml'}
start: 2026-11-23T00:00:00Z
until: 2026-12-10T00:00:00Z
contacts:
  - {{id: a1, email: a1@example.com, first_name: Al, owner: cy}}
events:
  - {{at: 2026-11-23T10:00:00Z, type: meeting_ended, contact: a1}}
  - {{at: 2026-11-26T09:00:00Z, type: replied, contact: a1, kind: human}}
""")
    s = from_scenario(scn)
    ps = build_report(s.store, as_of=s.as_of, plans=s.plans, config=s.config).playbooks[0]
    assert step(ps, "checkin").engagement.replied == 1  # checkin went out 11-25 10:00
    assert step(ps, "recap").engagement.replied == 0
    assert step(ps, "checkin").median_hours_to_first_reply == 23.0
    assert ps.outcomes == {"converted": 1}


def test_deferral_causes_are_read_from_the_journal_wording():
    assert deferral_cause("deferred to 2026-11-24T09:00:00Z: outside the window") == "window"
    assert deferral_cause("deferred to 2026-11-27T09:00:00Z: holiday: Thanksgiving Day (US)") == "holiday"
    assert deferral_cause("deferred to 2026-11-26T10:00:00Z: cap: cap email 1 per 3 days") == "cap"
    assert deferral_cause("deferred to 2026-11-26T10:00:00Z: something new") == "other"


def test_facts_pair_each_step_run_with_the_deferrals_before_it(src):
    facts = Facts(src.store, src.as_of)
    e3 = next(en for en in facts.enrollments if en.contact == "e3")
    first, second = facts.runs[e3.id]
    assert (first.step, first.deferrals) == ("first", [])
    assert second.step == "second" and second.at == t("2026-11-30T09:00")
    assert second.deferrals == [(t("2026-11-26T12:00"), "holiday"), (t("2026-11-27T09:00"), "cap"),
                                (t("2026-11-28T12:00"), "window")]


def test_json_round_trips(src):
    from fsl.report.model import Report

    rep = report(src)
    again = Report.model_validate_json(rep.model_dump_json())
    assert again == rep
