"""`fsl test`: run scenarios and compare them with their `expect:`.

Comparison (the same as the conformance runner's): expected actions are
matched in order against the simulated ones, each expected key against the
same key (instants compared to the minute, offers by their given keys); an
extra simulated action is a failure.  Expected outcomes are matched as a
set: each must find a simulated outcome agreeing on every key it gives, and
every simulated outcome must be expected.  A section left out of `expect:`
is not checked.  The report names every difference, each with the line of
the scenario's expectation it concerns (an unexpected action or outcome: the
line of its section).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML

from fsl.engine.timing import iso
from fsl.timecalc import parse_instant

from .scenario import ScenarioError, load_scenario
from .simulate import simulate, to_json

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
    except Exception:  # noqa: BLE001 - an unreadable file is no scenario with `expect:`; `fsl test` reports the ones that are
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


def _value(key: str, v: Any) -> str:
    """A value as the scenario would write it: YAML's `null`, never Python's None."""
    if v is None:
        return "null"
    if key in ("at", "expires"):
        return iso(parse_instant(v)) or str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(str(k), x)}" for k, x in v.items()) + "}"
    return str(v)


def _show(a: dict) -> str:
    return "{" + ", ".join(f"{k}: {_value(k, a[k])}" for k in _SHOW if k in a) + "}"


def compare(expect: dict, out: dict, lines: dict | None = None) -> list[tuple[int | None, str]]:
    """Every difference between `expect:` and the simulation, as (scenario
    line, message); empty when they agree.  `lines` is `Scenario.expect_lines`."""
    lines = lines or {}
    found: list[tuple[int | None, str]] = []
    if "actions" in expect:
        found += _actions(expect.get("actions") or [], out["actions"], lines)
    if "outcomes" in expect:
        found += _outcomes(expect.get("outcomes") or [], out["outcomes"], lines)
    return found


def _at(lines: dict, key: str, i: int) -> int | None:
    items = lines.get(key) or []
    return items[i] if i < len(items) else lines.get(f"{key}_line")


def _actions(want: list, got: list, lines: dict) -> list[tuple[int | None, str]]:
    found = []
    for i, w in enumerate(want):
        if i >= len(got):
            found.append((_at(lines, "actions", i), f"action {i + 1} missing: expected {_show(w)}"))
            continue
        g = got[i]
        differ = [key for key, value in w.items() if not _same(key, value, g.get(key))]
        if differ:
            found.append((_at(lines, "actions", i), f"action {i + 1}: expected {_show(w)}, got {_show(g)} "
                                                    f"({', '.join(differ)} differ{'s' if len(differ) == 1 else ''})"))
    for i in range(len(want), len(got)):
        found.append((lines.get("actions_line"), f"unexpected action {i + 1}: {_show(got[i])}"))
    return found


def _outcomes(want: list, got: list, lines: dict) -> list[tuple[int | None, str]]:
    found = []
    left = list(got)
    for i, w in enumerate(want):
        match = next((o for o in left if all(_same(k, v, o.get(k)) for k, v in w.items())), None)
        if match is None:
            found.append((_at(lines, "outcomes", i), f"expected outcome {_outcome(w)} not found; "
                                                     f"got {', '.join(map(_outcome, left)) or 'none'}"))
        else:
            left.remove(match)
    if not found:  # else each leftover was already named in a failure's "got ..."
        for o in left:
            found.append((lines.get("outcomes_line"), f"unexpected outcome {_outcome(o)}"))
    return found


def _outcome(o: dict) -> str:
    """c1/basic stopped at 2026-11-27T16:00:00Z; keys an expectation leaves out are left out."""
    who = "/".join(str(o[k]) for k in ("contact", "playbook") if o.get(k) is not None) or "any enrollment"
    text = f"{who} {o['outcome']}" if o.get("outcome") is not None else who
    if "at" in o:
        text += f" at {_value('at', o['at'])}" if o["at"] is not None else " (still running, no end)"
    return text


def _where(scenario: Any, failure: dict) -> str:
    """`file:line: message`, as compilers say it (editors jump to it)."""
    line = failure["line"]
    return f"{scenario}:{line}: {failure['message']}" if line else f"{scenario}: {failure['message']}"


def run_tests(paths: list[Path], fmt: str = "text") -> int:
    files, problems = find_scenarios(paths)
    results: list[dict[str, Any]] = []
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
        diffs = compare(scn.expect, to_json(simulate(scn)), scn.expect_lines)
        failures = [{"line": line, "message": message} for line, message in diffs]
        results.append({"scenario": str(f), "status": "fail" if diffs else "pass",
                        "message": _where(f, failures[0]) if failures else None, "failures": failures})
    failed = sum(r["status"] == "fail" for r in results)
    passed = sum(r["status"] == "pass" for r in results)
    errors = sum(r["status"] == "error" for r in results)
    if fmt == "json":
        click.echo(json.dumps({"passed": passed, "failed": failed, "errors": errors, "scenarios": results}, indent=2))
    else:
        for r in results:
            head = {"pass": "PASS ", "fail": "FAIL ", "error": "ERROR"}[r["status"]]
            if r["status"] == "fail":
                n = len(r["failures"])
                click.echo(f"{head} {r['scenario']}: {n} failed expectation{'s' if n > 1 else ''}")
                for failure in r["failures"]:
                    click.echo(f"  {_where(r['scenario'], failure)}")
                continue
            click.echo(f"{head} {r['scenario']}" + (f": {r['message']}" if r["message"] else ""))
        if not files:
            click.echo("no scenario with an `expect:` found", err=True)
        click.echo(f"{passed} passed, {failed} failed" + (f", {errors} errors" if errors else ""))
    if bad:
        return 2
    return 1 if failed else 0
