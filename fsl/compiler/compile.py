"""Compile playbooks to plans by running the passes in order (passes/__init__.py)."""
from __future__ import annotations

import json
from typing import Any

from ..config import Config
from ..syntax import nodes as n
from ..syntax.defaults import inherit, inherited
from .hashing import meaning_hash
from .passes import PASSES
from .passes.context import PassContext
from .plan import Plan


def compile_playbook(playbook: n.Playbook, config: Config | None = None) -> Plan:
    """The plan of a playbook with what it inherits from fsl.yaml's `defaults`."""
    d = config.defaults if config is not None else None
    defaults = d.playbook if d is not None else None
    ctx = PassContext(inherit(playbook, defaults, relocate=True), config)
    if d is not None:
        ctx.out["inherited"] = [{"text": d.text(item), "line": item.span.line}
                                for item in inherited(playbook, defaults)]
    for run in PASSES:
        run(ctx)
    plan = Plan.model_validate(ctx.out)
    # the hash is sealed on the dict; recompute on the validated model so defaults count too
    data = plan_dict(plan)
    return plan.model_copy(update={"hash": meaning_hash(data)})


def compile_module(module: n.Module, config: Config | None = None) -> list[Plan]:
    return [compile_playbook(pb, config) for pb in module.playbooks if pb.name not in module.broken]


def plan_dict(plan: Plan) -> dict[str, Any]:  # pydantic's model_dump
    return plan.model_dump(mode="json", by_alias=True, exclude={"hash"})


def plan_json(plans: list[Plan]) -> str:
    """Deterministic JSON: one plan as an object, several as {"plans": [...]}."""
    def one(p: Plan) -> dict[str, Any]:
        return {"hash": p.hash, **plan_dict(p)}

    doc = one(plans[0]) if len(plans) == 1 else {"plans": [one(p) for p in plans]}
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def plan_hashes(module: n.Module, config: Config | None = None) -> list[str]:
    return sorted(p.hash for p in compile_module(module, config))


def load_plan(data: dict[str, Any]) -> Plan:
    return Plan.model_validate(data)
