"""Segments: the values of a playbook's `let`s for one enrollment.

The engine does not record `let` values when a step runs (the journal keeps
the branch taken, as text, and action records keep what was sent), so the
report evaluates the playbook's lets again with the runtime's own evaluator
(fsl/engine/evaluate.py), in the enrollment's context, at the instant its
first step ran (its start when no step ran): event counts and `now()` see
exactly what the step saw.  Contact and deal *fields* are the store's
current ones, so a segment built on a field that changed since (an `ltv`
updated after the win-back) is the segment as of now.  README.md suggests
the engine hook that would make this exact.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fsl.compiler.plan import Plan
from fsl.engine.engine import Services
from fsl.engine.evaluate import Ctx
from fsl.engine.model import Enrollment
from fsl.engine.program import Program, build

from .facts import Facts, plain_value


class Segmenter:
    """Evaluates lets per enrollment; builds each plan's program once."""

    def __init__(self, facts: Facts, plans: dict[str, Plan], project_zone: str | None) -> None:
        self.facts = facts
        self.plans = plans
        self.project_zone = project_zone
        self.services = Services(facts.store)
        self._programs: dict[str, Program] = {}

    def names(self, playbook: str) -> list[str]:
        plan = self.plans.get(playbook)
        return list(plan.lets) if plan is not None else []

    def program(self, playbook: str) -> Program | None:
        if playbook not in self._programs:
            plan = self.plans.get(playbook)
            if plan is None:
                return None
            self._programs[playbook] = build(plan, self.project_zone)
        return self._programs[playbook]

    def values(self, en: Enrollment) -> dict[str, str]:
        """name -> the value as a label ("none" when it has none, "error" when it fails)."""
        prog = self.program(en.playbook)
        if prog is None or not prog.lets:
            return {}
        ctx = self._ctx(prog, en, self._instant(en))
        if ctx is None:
            return {name: "none" for name in prog.lets}
        out = {}
        for name, fn in prog.lets.items():
            try:
                out[name] = plain_value(fn(ctx))
            except Exception:  # noqa: BLE001 - data the checker could not foresee: never fail the report
                out[name] = "error"
        return out

    def _instant(self, en: Enrollment) -> datetime:
        runs = self.facts.runs.get(en.id)
        return runs[0].at if runs else en.started_at

    def _ctx(self, prog: Program, en: Enrollment, now: datetime) -> Ctx | None:
        store: Any = self.facts.store
        contact = store.get_contact(en.contact)
        if contact is None:
            return None
        deal = store.get_deal(en.deal) if en.deal is not None else None
        stake = deal.stakeholders.get(en.contact) if deal is not None else None
        ctx = Ctx(now, contact, deal, stake, None, en, None, self.services, prog.lets, prog.holidays)
        ctx.zone = prog.zone(ctx)
        return ctx
