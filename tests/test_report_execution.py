"""Follow-up execution on a simulated store (tests/fixtures/report/scenario.yaml).

The `nudge` playbook runs inside mon-fri 09:00-17:00 UTC, skips US holidays
(Thanksgiving is Thursday 2026-11-26) and allows one email per 3 days; its
`first` step sends an email and a call task due a day later, `second` an
email a day after `first`:

  e1 (ana)  demo Mon 10:00: first on time; second due Tue 10:00, held by the
            cap to Thu 10:00, by Thanksgiving to Fri 09:00 (71 h late).
            Task due Tue 10:00, done Tue 09:00: on time
  e2 (ana)  demo Mon 18:00: first held by the window to Tue 09:00 (15 h);
            second due Wed 09:00, held by the cap to Fri 09:00 (48 h).
            Task due Wed 09:00, done Thu 10:00: late
  e3 (bo)   demo Wed 12:00: first on time; second due Thu 12:00, held by
            Thanksgiving, the cap, then the weekend window to Mon 09:00 (93 h).
            Task never done: overdue
  e4 (bo)   demo Mon 12-21 10:00: first on time; its task is due after the
            data ends (12-22 00:00): open

followup and winback have no window and no cap: all their 21 touches are on
time; followup's one task (f5, owner cy) is overdue.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from fsl.report import build_report
from fsl.report.sources import from_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "report"
UTC = timezone.utc


@pytest.fixture(scope="module")
def src():
    return from_scenario(FIXTURES / "scenario.yaml")


def execution(src, **kw):
    return build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config, **kw).execution


def row(r):
    return (r.playbook, r.touches, r.on_time, r.deferred, r.by_cause, r.median_delay_hours)


def tasks(o):
    return (o.owner, o.created, o.completed, o.on_time, o.late, o.open, o.overdue)


def test_touches_on_time_and_deferred_by_cause(src):
    ex = execution(src)
    nudge = next(r for r in ex.by_playbook if r.playbook == "nudge")
    # 11 touches: e1 3, e2 3, e3 3, e4 2; deferred: e1 second, e2 first (email + task), e2 second, e3 second
    assert row(nudge) == ("nudge", 11, 6, 5, {"window": 3, "holiday": 2, "cap": 3}, 48.0)
    assert nudge.on_time_rate == 6 / 11
    # delays per deferred touch: 15, 15, 48, 71, 93 hours
    assert [row(r)[:4] for r in ex.by_playbook] == [
        ("followup", 11, 11, 0), ("nudge", 11, 6, 5), ("winback", 10, 10, 0)]
    assert row(ex.total) == ("all", 32, 27, 5, {"window": 3, "holiday": 2, "cap": 3}, 48.0)


def test_tasks_by_owner(src):
    ex = execution(src)
    assert [tasks(o) for o in ex.tasks] == [
        ("ana", 2, 2, 1, 1, 0, 0),
        ("bo", 2, 0, 0, 0, 1, 1),
        ("cy", 1, 0, 0, 0, 0, 1),
    ]
    assert tasks(ex.tasks_total) == ("all", 5, 2, 1, 1, 1, 2)
    assert ex.tasks_total.completion_rate == 0.4


def test_execution_counts_activity_in_the_period(src):
    ex = execution(src, since=datetime(2026, 11, 25, tzinfo=UTC), until=datetime(2026, 12, 1, tzinfo=UTC))
    nudge = next(r for r in ex.by_playbook if r.playbook == "nudge")
    # e3 first (2, on time) on 11-25; e1 and e2 second on 11-27 (cap; cap+holiday), e3 second on 11-30
    assert row(nudge) == ("nudge", 5, 2, 3, {"window": 1, "holiday": 2, "cap": 3}, 71.0)
    # tasks created then: e3's (bo, overdue) and f5's (cy, overdue)
    assert [tasks(o) for o in ex.tasks] == [("bo", 1, 0, 0, 0, 0, 1), ("cy", 1, 0, 0, 0, 0, 1)]


def test_playbook_filter_narrows_execution(src):
    ex = execution(src, playbook="followup")
    assert [row(r)[:4] for r in ex.by_playbook] == [("followup", 11, 11, 0)]
    assert row(ex.total)[:4] == ("all", 11, 11, 0)
    assert [tasks(o) for o in ex.tasks] == [("cy", 1, 0, 0, 0, 0, 1)]


def test_task_completion_matches_kind_and_step(tmp_path):
    """`task_completed` names the task kind (and optionally the step): an
    event for another kind leaves the task open."""
    scn = tmp_path / "s.yaml"
    scn.write_text(f"""
playbook: {FIXTURES / 'nudge.fsl'}
config: {FIXTURES / 'fsl.yaml'}
start: 2026-12-07T00:00:00Z
until: 2026-12-09T00:00:00Z
contacts:
  - {{id: x1, email: x1@example.com, first_name: Xi, owner: dee}}
  - {{id: x2, email: x2@example.com, first_name: Yu, owner: dee}}
events:
  - {{at: 2026-12-07T10:00:00Z, type: demo_done, contact: x1}}
  - {{at: 2026-12-07T10:00:00Z, type: demo_done, contact: x2}}
  - {{at: 2026-12-07T11:00:00Z, type: task_completed, contact: x1, task: email}}
  - {{at: 2026-12-07T12:00:00Z, type: task_completed, contact: x2}}
""")
    s = from_scenario(scn)
    ex = build_report(s.store, as_of=s.as_of, plans=s.plans, config=s.config).execution
    # x1's event names another kind: its call task (due 12-08 10:00) is overdue at 12-09; x2's is done on time
    assert [tasks(o) for o in ex.tasks] == [("dee", 2, 1, 1, 0, 0, 1)]
