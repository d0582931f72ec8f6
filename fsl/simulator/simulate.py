"""Run a scenario on a virtual clock (`fsl simulate`, `fsl test`).

The simulator is the engine with a memory store and a clock that jumps from
one interesting instant to the next (engine.run_until does the jumping).
Actions are recorded, never rendered or sent.  The clock runs from `start`
up to, not including, `until`: enrollments still running then are reported
as `active`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fsl.engine.engine import Engine
from fsl.engine.memstore import MemoryStore
from fsl.engine.model import ENDED, ActionRecord, Enrollment
from fsl.engine.timing import iso

from .scenario import Scenario


@dataclass
class Simulation:
    scenario: Scenario
    engine: Engine

    @property
    def store(self) -> MemoryStore:
        return self.engine.store  # type: ignore[return-value]

    def actions(self) -> list[ActionRecord]:
        """Sends, tasks and notifications, by time, then contact, then
        playbook; ties keep the order in which they were executed."""
        acts = [a for a in self.store.actions() if a.kind in ("send", "task", "notify")]
        return sorted(acts, key=lambda a: (a.at, a.contact, a.playbook))

    def enrollments(self) -> list[Enrollment]:
        return sorted(self.store.enrollments(), key=lambda e: (e.contact, e.playbook, e.started_at, e.id))

    def warnings(self) -> list[tuple[datetime, str, int | None]]:
        return list(self.engine.warnings)


def simulate(scn: Scenario) -> Simulation:
    engine = Engine(scn.plans, scn.config, MemoryStore())
    for c in scn.contacts:
        engine.add_contact(c)
    for d in scn.deals:
        engine.add_deal(d)
    for e in scn.events:
        if e.at < scn.start:
            engine.record_history(e)
        elif e.at >= scn.until:
            engine.warn(e.at, f"event {e.type} at {iso(e.at)} is not before `until`: ignored", e.line, e.contact)
        else:
            engine.ingest(e)
    engine.start(scn.start)
    engine.run_until(scn.until, inclusive=False)
    return Simulation(scn, engine)


def action_json(a: ActionRecord) -> dict:
    out: dict[str, Any] = {"at": iso(a.at), "contact": a.contact, "playbook": a.playbook, "step": a.step, "kind": a.kind,
           "channel": a.channel if a.kind != "notify" else None,
           "template": a.template if a.kind == "send" else None}
    if a.kind == "send" and a.offer is not None:
        out["offer"] = {"percent": _number(a.offer["percent"]), "expires": iso(a.offer.get("expires"))}
    if a.deal is not None:
        out["deal"] = a.deal
    if a.kind in ("task", "notify"):
        out["to"] = _jsonable(a.to)
        out["text"] = a.text
    if a.kind == "task":
        out["due"] = iso(a.due)
    return out


def outcome_json(en: Enrollment) -> dict:
    out: dict[str, Any] = {"contact": en.contact, "playbook": en.playbook}
    if en.status == ENDED:
        out.update(outcome=en.outcome, reason=en.reason, at=iso(en.ended_at))
    else:
        out.update(outcome="active", reason=f"still running ({en.status})", at=None)
    if en.deal is not None:
        out["deal"] = en.deal
    out["started_at"] = iso(en.started_at)
    return out


def to_json(sim: Simulation) -> dict:
    return {
        "actions": [action_json(a) for a in sim.actions()],
        "outcomes": [outcome_json(e) for e in sim.enrollments()],
        "warnings": [{"at": iso(at), "message": msg, **({"line": line} if line else {})}
                     for at, msg, line in sim.warnings()],
    }


def _number(x):
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _jsonable(v):
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return str(v)
