"""Deterministic JSON and the plan hash.

The hash is sha256 over the canonical JSON (sorted keys, no spaces) of the
plan without `hash`, `source`, `inherited` (v1.1: where inherited settings
were written) and every `line`: what the plan does, not where
its text sits, so `fsl fmt` and comments never change it.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

_POSITIONAL = {"line", "source", "hash", "inherited"}


def strip_positions(value: object) -> object:
    if isinstance(value, dict):
        return {k: strip_positions(v) for k, v in value.items() if k not in _POSITIONAL}
    if isinstance(value, list):
        return [strip_positions(v) for v in value]
    return value


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def meaning_hash(plan_dict: Mapping[str, object]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(strip_positions(plan_dict)).encode()).hexdigest()
