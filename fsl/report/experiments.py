"""The experiments section (v1.1): each split's variants side by side.

Per variant: enrollments that took it, sends it made, and of those sends the
ones a person opened, clicked or replied to (machine opens and clicks, and
automatic replies, do not count: experiments.human), the outcomes of its
enrollments; every rate with its 95% Wilson score interval.  Then the
decision: the recorded winner, or the sequential test's state at the as-of
instant (the same function the engine runs, fsl/engine/experiments.py).
"""
from __future__ import annotations

import math
from typing import Any

from fsl.compiler.plan import Plan
from fsl.engine.experiments import human, verdict
from fsl.engine.model import ActionRecord, Enrollment
from fsl.engine.program import Split, build
from fsl.engine.timing import iso

from .facts import Facts
from .model import ExperimentStats, Rate, SplitDecisionStats, VariantStats

Z95 = 1.959963984540054  # the normal quantile of 97.5%


def wilson(count: int, of: int, z: float = Z95) -> Rate:
    """count / of with the Wilson score interval (Wilson 1927), which stays
    inside [0, 1] and behaves at 0 and at `of` where the normal one does not."""
    if not of:
        return Rate(count=count, of=of)
    p = count / of
    den = 1 + z * z / of
    centre = (p + z * z / (2 * of)) / den
    half = z * math.sqrt(p * (1 - p) / of + z * z / (4 * of * of)) / den
    low = 0.0 if count == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if count == of else min(1.0, centre + half)
    return Rate(count=count, of=of, rate=p, low=low, high=high)


def experiments_section(facts: Facts, cohort: dict[str, list[Enrollment]], plans: dict[str, Plan],
                        project_zone: str | None = None) -> list[ExperimentStats]:
    out: list[ExperimentStats] = []
    for name in sorted(cohort):
        splits = _splits(plans.get(name), project_zone) or _splits_from_data(facts, cohort[name])
        for split in splits.values():
            out.append(_experiment(facts, name, cohort[name], split))
    return out


def _splits(plan: Plan | None, project_zone: str | None) -> dict[str, Split]:
    return build(plan, project_zone).splits if plan is not None else {}


def _splits_from_data(facts: Facts, cohort: list[Enrollment]) -> dict[str, Split]:
    """Without the plan: the splits and variants the sends name, in the order first seen."""
    found: dict[str, tuple[str, list[str]]] = {}
    for en in cohort:
        for a in facts.sends(en):
            tag = a.data or {}
            if "split" in tag:
                step, names = found.setdefault(str(tag["split"]), (a.step, []))
                if tag.get("variant") not in names:
                    names.append(str(tag.get("variant")))
    return {k: Split(k, step, [(v, [], 0) for v in names], [], [], None, 0) for k, (step, names) in found.items()}


def _experiment(facts: Facts, playbook: str, cohort: list[Enrollment], split: Split) -> ExperimentStats:
    names = split.names()
    sends: dict[str, list[ActionRecord]] = {v: [] for v in names}
    for en in cohort:
        for a in facts.sends(en):
            tag = a.data or {}
            if tag.get("split") == split.name and tag.get("variant") in sends:
                sends[str(tag["variant"])].append(a)
    current = verdict(facts.store, playbook, split, facts.as_of) if split.pick is not None else None
    arms = {a.name: a for a in current.arms} if current is not None else {}
    variants = []
    for i, v in enumerate(names):
        mine = [en for en in cohort if en.variants.get(split.name) == v]
        ended = [en for en in mine if facts.ended(en)]
        outcomes: dict[str, int] = {}
        for en in ended:
            outcomes[en.outcome or "unknown"] = outcomes.get(en.outcome or "unknown", 0) + 1
        engaged = {kind: sum(1 for a in sends[v] if _had(facts, a, kind)) for kind in ("opened", "clicked", "replied")}
        n = len(sends[v])
        arm = arms.get(v)
        variants.append(VariantStats(
            name=v, percent=split.percents[i] if i < len(split.percents) else None, enrolled=len(mine), sent=n,
            opened=wilson(engaged["opened"], n), clicked=wilson(engaged["clicked"], n),
            replied=wilson(engaged["replied"], n),
            outcomes={k: wilson(c, len(mine)) for k, c in sorted(outcomes.items())},
            counted=arm.trials if arm else 0, successes=arm.successes if arm else 0))
    pick = split.pick
    return ExperimentStats(
        playbook=playbook, split=split.name, step=split.step or None,
        pick_event=pick.event if pick else None,
        within=f"{pick.within.amount:g} {pick.within.unit.replace('_', ' ')}" if pick else None,
        confidence=pick.confidence if pick else None, variants=variants,
        decision=_decision(facts, playbook, split, current))


def _had(facts: Facts, send: ActionRecord, kind: str) -> bool:
    """Whether a person engaged with this very message (its enrollment and step)."""
    return any(t.event.type == kind and t.step == send.step and human(t.event) and t.event.at >= send.at
               for t in facts.touches.get(send.enrollment, ()))


def _decision(facts: Facts, playbook: str, split: Split, current: Any) -> SplitDecisionStats:
    recorded = facts.store.split_decision(playbook, split.name)
    if recorded is not None and recorded.decided_at <= facts.as_of:
        p = recorded.figures.get("p_value")
        return SplitDecisionStats(state="decided", winner=recorded.winner, decided_at=iso(recorded.decided_at),
                                  p_value=p if isinstance(p, float) else None,
                                  alpha=recorded.figures.get("alpha"), figures=recorded.figures)
    if current is None:
        return SplitDecisionStats(state="fixed")
    return SplitDecisionStats(state="running", p_value=current.p_value, alpha=current.alpha)
