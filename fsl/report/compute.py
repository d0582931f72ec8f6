"""The report's figures from a `Store`: one function per section.

`build_report` is the entry point.  Two ways of choosing what a period
covers, because managers ask two kinds of question:

* **cohort** (playbooks, steps, funnels, win-back): the enrollments that
  *started* in [since, until), followed to the end of the data -- "of the
  people we enrolled last week, how many replied, how many came back?";
* **activity** (execution, outcomes by week): what *happened* in
  [since, until) -- "which touches went out on time this week, which tasks
  are overdue?".

Everything is a pure function of the store's data and `as_of` (the instant
the data runs up to), so the same store always gives the same report.
"""
from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any, Iterable

from fsl.compiler.plan import Plan
from fsl.engine.model import Enrollment
from fsl.engine.timing import iso

from .execution import execution_section
from .experiments import experiments_section
from .facts import Facts, Period, Touch
from .model import Engagement, FunnelStage, OutcomeWeek, PlaybookStats, Report, StepStats, ratio
from .winback import winback_section

# Replies that count as an answer for "time to first reply": a person wrote
# back (kind `human`, or a reply with no kind).  Out-of-office and auto
# replies are counted under `replied` by kind, but are no answer.
ANSWER_KINDS = (None, "human")


def build_report(store: Any, *, as_of: datetime, plans: Iterable[Plan] = (), config: Any = None,
                 since: datetime | None = None, until: datetime | None = None,
                 playbook: str | None = None, source: str = "store") -> Report:
    """Every section of the report over one store."""
    facts = Facts(store, as_of)
    period = Period(since, until)
    plan_of = {p.playbook: p for p in plans}
    names = sorted({en.playbook for en in facts.enrollments} | set(plan_of))
    notes: list[str] = []
    if playbook is not None:
        if playbook not in names:
            notes.append(f"no playbook named {playbook!r} in the data"
                         + (f" (known: {', '.join(names)})" if names else ""))
        names = [playbook]
    if not plan_of and names:
        notes.append("plans not available: steps are listed in the order they first ran, "
                     "and win-back segments are not evaluated")
    cohort = {name: [en for en in facts.enrollments if en.playbook == name and period.holds(en.started_at)]
              for name in names}
    return Report(
        source=source, as_of=iso(as_of) or "", since=iso(since), until=iso(until), playbook=playbook,
        playbooks=[playbook_stats(facts, cohort[n], n, plan_of.get(n)) for n in names],
        winback=winback_section(facts, cohort, plan_of, config),
        execution=execution_section(facts, names, period),
        outcomes_by_week=outcomes_by_week(facts, names, period),
        experiments=experiments_section(facts, cohort, plan_of, getattr(config, "timezone", None)),
        notes=notes,
    )


# ------------------------------------------------------------- playbooks

def playbook_stats(facts: Facts, cohort: list[Enrollment], name: str, plan: Plan | None) -> PlaybookStats:
    """Enrolled, outcomes, sends, engagement, time to first reply, per step and funnel."""
    ps = PlaybookStats(name=name, description=plan.description if plan else None,
                       owner=plan.owner if plan else None, enrolled=len(cohort))
    for en in cohort:
        if facts.ended(en):
            ps.outcomes[en.outcome or "unknown"] = ps.outcomes.get(en.outcome or "unknown", 0) + 1
        else:
            ps.active += 1
    ps.outcomes = dict(sorted(ps.outcomes.items()))
    touches = [t for en in cohort for t in facts.touches.get(en.id, ())]
    ps.engagement = engagement(touches)
    actions = [a for en in cohort for a in facts.actions.get(en.id, ())]
    ps.engagement.accepted = facts.accepted_enrollments(a for a in actions if a.kind == "send")
    ps.sent = _count(a.channel for a in actions if a.kind == "send")
    ps.tasks = _count(a.channel for a in actions if a.kind == "task")
    ps.messaged = len({a.enrollment for a in actions if a.kind == "send"})
    hours = [h for en in cohort if (h := _hours_to_answer(facts.sends(en), facts.touches.get(en.id, ()))) is not None]
    ps.median_hours_to_first_reply = statistics.median(hours) if hours else None
    ps.replies_timed = len(hours)
    ps.steps = [step_stats(facts, cohort, step) for step in _step_names(facts, cohort, plan)]
    ps.funnel = funnel(ps)
    return ps


def step_stats(facts: Facts, cohort: list[Enrollment], step: str) -> StepStats:
    st = StepStats(name=step)
    reached: set[int] = set()
    hours: list[float] = []
    touches: list[Touch] = []
    for en in cohort:
        runs = [r for r in facts.runs.get(en.id, ()) if r.step == step and r.fresh]
        acts = [a for a in facts.actions.get(en.id, ()) if a.step == step]
        if runs or acts:
            reached.add(en.id)
        st.executed += len(runs)
        sends = [a for a in acts if a.kind == "send"]
        for a in sends:
            st.sent[a.channel or "none"] = st.sent.get(a.channel or "none", 0) + 1
        for a in acts:
            if a.kind == "task":
                st.tasks[a.channel or "none"] = st.tasks.get(a.channel or "none", 0) + 1
        st.messaged += bool(sends)
        mine = [t for t in facts.touches.get(en.id, ()) if t.step == step]
        touches += mine
        h = _hours_to_answer(sends, mine)
        if h is not None:
            hours.append(h)
    st.reached = len(reached)
    st.sent = dict(sorted(st.sent.items()))
    st.tasks = dict(sorted(st.tasks.items()))
    st.engagement = engagement(touches)
    st.engagement.accepted = facts.accepted_enrollments(
        a for en in cohort for a in facts.actions.get(en.id, ()) if a.step == step and a.kind == "send")
    st.median_hours_to_first_reply = statistics.median(hours) if hours else None
    return st


def funnel(ps: PlaybookStats) -> list[FunnelStage]:
    """Enrolled, then how many enrollments reached each step, in plan order."""
    stages = [FunnelStage(stage="enrolled", count=ps.enrolled, rate=ratio(ps.enrolled, ps.enrolled))]
    return stages + [FunnelStage(stage=s.name, count=s.reached, rate=ratio(s.reached, ps.enrolled))
                     for s in ps.steps]


def engagement(touches: Iterable[Touch]) -> Engagement:
    """Distinct enrollments per engagement event (and per link tag, reply kind)."""
    seen: dict[str, set[int]] = {}
    links: dict[str, set[int]] = {}
    kinds: dict[str, set[int]] = {}
    for t in touches:
        e = t.event
        if e.type in ("opened", "clicked") and e.fields.get("machine") is True:
            seen.setdefault(e.type + "_machine", set()).add(t.enrollment)  # reported apart, not as people
            continue
        seen.setdefault(e.type, set()).add(t.enrollment)
        if e.type == "clicked":
            links.setdefault(str(e.fields.get("link") or "none"), set()).add(t.enrollment)
        elif e.type == "replied":
            kinds.setdefault(str(e.fields.get("kind") or "none"), set()).add(t.enrollment)
    out = Engagement.model_validate({k: len(v) for k, v in seen.items() if k in Engagement.model_fields})
    out.clicked_by_link = {k: len(v) for k, v in sorted(links.items())}
    out.replied_by_kind = {k: len(v) for k, v in sorted(kinds.items())}
    return out


def _hours_to_answer(sends, touches) -> float | None:
    """Hours from the first send to the first answer after it (ANSWER_KINDS)."""
    if not sends:
        return None
    first = min(a.at for a in sends)
    answers = [t.event.at for t in touches if t.event.type == "replied"
               and t.event.fields.get("kind") in ANSWER_KINDS and t.event.at >= first]
    return (min(answers) - first).total_seconds() / 3600 if answers else None


def _step_names(facts: Facts, cohort: list[Enrollment], plan: Plan | None) -> list[str]:
    """Plan order when the plan is known; else the order steps first ran
    (steps of a plan that no longer has them, after an upgrade, go last)."""
    names = [s.name for s in plan.steps] if plan is not None else []
    ran = sorted(((r.at, r.step) for en in cohort for r in facts.runs.get(en.id, ())), key=lambda x: x[0])
    ran += sorted(((a.at, a.step) for en in cohort for a in facts.actions.get(en.id, ())), key=lambda x: x[0])
    for _, step in ran:
        if step not in names:
            names.append(step)
    return names


def _count(keys: Iterable[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in keys:
        out[k or "none"] = out.get(k or "none", 0) + 1
    return dict(sorted(out.items()))


# -------------------------------------------------------------- timeline

def outcomes_by_week(facts: Facts, names: list[str], period: Period) -> list[OutcomeWeek]:
    """Enrollments that ended in the period, by the UTC week (from Monday) of their end."""
    weeks: dict[str, dict[str, int]] = {}
    wanted = set(names)
    for en in facts.enrollments:
        # (an ended enrollment has its end: the test for None only says so to the type checker)
        if en.playbook in wanted and facts.ended(en) and en.ended_at is not None and period.holds(en.ended_at):
            day = en.ended_at.date()
            week = (day - timedelta(days=day.weekday())).isoformat()
            row = weeks.setdefault(week, {})
            row[en.outcome or "unknown"] = row.get(en.outcome or "unknown", 0) + 1
    return [OutcomeWeek(week=w, outcomes=dict(sorted(o.items()))) for w, o in sorted(weeks.items())]
