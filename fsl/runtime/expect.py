"""`fsl test`: run scenarios and compare them with their `expect:`.

Comparison (the same as the conformance runner's): expected actions are
matched in order against the simulated ones, each expected key against the
same key (instants compared to the minute, offers by their given keys); an
extra simulated action is a failure.  Expected outcomes are matched as a
set: each must find a simulated outcome agreeing on every key it gives, and
every simulated outcome must be expected.  A section left out of `expect:`
is not checked.  The report names the first difference.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML

from .scenario import ScenarioError, load_scenario, parse_instant
from .simulate import simulate, to_json
from fsl.engine.timing import iso

_SHOW = ("at", "contact", "playbook", "step", "kind", "channel", "template", "offer")


def find_scenarios(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Scenario files named, or found below folders (those with `expect:`)."""
    found: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            for f in sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]):
                if _has_expect(f):
                    found.append(f)
        else:
            problems.append(f"{p}: no such file or folder")
    return found, problems


def _has_expect(path: Path) -> bool:
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception:
        return False
    return isinstance(data, dict) and "expect" in data and "playbook" in data


def _same(key: str, want: Any, got: Any) -> bool:
    if key in ("at", "expires"):
        if want is None or got is None:
            return want is None and got is None
        w, g = parse_instant(want), parse_instant(got)
        return w is not None and g is not None and iso(w) == iso(g)
    if key == "offer":
        if want is None or got is None:
            return want is None and got is None
        return isinstance(want, dict) and all(_same(k, v, got.get(k)) for k, v in want.items())
    if isinstance(want, (int, float)) and isinstance(got, (int, float)) \
            and not isinstance(want, bool) and not isinstance(got, bool):
        return float(want) == float(got)
    return want == got


def _show(a: dict) -> str:
    parts = []
    for k in _SHOW:
        if k in a:
            v = a[k]
            parts.append(f"{k}: {iso(parse_instant(v)) if k == 'at' and v is not None else v}")
    return "{" + ", ".join(parts) + "}"


def compare(expect: dict, out: dict) -> str | None:
    """The first difference between `expect:` and the simulation, or None."""
    if "actions" in expect:
        want, got = expect.get("actions") or [], out["actions"]
        for i, w in enumerate(want):
            if i >= len(got):
                return f"action {i + 1} missing: expected {_show(w)}"
            g = got[i]
            for key, value in w.items():
                if not _same(key, value, g.get(key)):
                    return f"action {i + 1}: expected {_show(w)}, got {_show(g)} ({key} differs)"
        if len(got) > len(want):
            return f"unexpected action {len(want) + 1}: {_show(got[len(want)])}"
    if "outcomes" in expect:
        left = list(out["outcomes"])
        for w in expect.get("outcomes") or []:
            match = next((o for o in left if all(_same(k, v, o.get(k)) for k, v in w.items())), None)
            if match is None:
                return f"expected outcome {_outcome(w)} not found; got {', '.join(map(_outcome, left)) or 'none'}"
            left.remove(match)
        if left:
            return f"unexpected outcome {_outcome(left[0])}"
    return None


def _outcome(o: dict) -> str:
    at = o.get("at")
    return f"{o.get('contact')}/{o.get('playbook')} {o.get('outcome')} at {iso(parse_instant(at)) if at else at}"


def run_tests(paths: list[Path], fmt: str = "text") -> int:
    files, problems = find_scenarios(paths)
    results = []
    bad = bool(problems)
    for p in problems:
        click.echo(f"fsl test: {p}", err=True)
    for f in files:
        try:
            scn = load_scenario(f)
        except ScenarioError as exc:
            bad = True
            results.append({"scenario": str(f), "status": "error", "message": str(exc)})
            continue
        if scn.expect is None:
            results.append({"scenario": str(f), "status": "error", "message": f"{f}: no `expect:` to check"})
            bad = True
            continue
        diff = compare(scn.expect, to_json(simulate(scn)))
        results.append({"scenario": str(f), "status": "fail" if diff else "pass", "message": diff})
    failed = sum(r["status"] == "fail" for r in results)
    passed = sum(r["status"] == "pass" for r in results)
    errors = sum(r["status"] == "error" for r in results)
    if fmt == "json":
        click.echo(json.dumps({"passed": passed, "failed": failed, "errors": errors, "scenarios": results}, indent=2))
    else:
        for r in results:
            head = {"pass": "PASS ", "fail": "FAIL ", "error": "ERROR"}[r["status"]]
            click.echo(f"{head} {r['scenario']}" + (f": {r['message']}" if r["message"] else ""))
        if not files:
            click.echo("no scenario with an `expect:` found", err=True)
        click.echo(f"{passed} passed, {failed} failed" + (f", {errors} errors" if errors else ""))
    if bad:
        return 2
    return 1 if failed else 0
