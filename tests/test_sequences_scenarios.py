"""The example playbooks of `sequences/` and their scenarios.

Every playbook file in `sequences/` has a scenario in `sequences/scenarios/`
that tells a story from the practice it encodes; `fsl test` must pass on all
of them, and `fsl check --strict` must find nothing in the playbooks.  Both
run through the real command line (`python -m fsl`), as CI would.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
SEQUENCES = ROOT / "sequences"
SCENARIOS = SEQUENCES / "scenarios"
SCENARIO_FILES = sorted(SCENARIOS.glob("*.yaml"))

# Scenarios whose `expect:` states what the specification requires while the
# engine still does something else.  Each entry is a strict xfail: the test
# fails as soon as the engine is fixed, so the entry must then be removed.
# This list only shrinks.
# scenario file -> why it is expected to fail (an engine bug being fixed); empty when all pass
KNOWN_ENGINE_BUGS: dict[str, str] = {}


def fsl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fsl", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    """`fsl test sequences/scenarios --format json`, by scenario file name."""
    proc = fsl("test", str(SCENARIOS), "--format", "json")
    assert proc.returncode in (0, 1), f"fsl test could not run (exit {proc.returncode}):\n{proc.stderr}"
    report = json.loads(proc.stdout)
    assert report["errors"] == 0, report
    return {Path(r["scenario"]).name: r for r in report["scenarios"]}


def test_every_playbook_file_has_a_scenario() -> None:
    yaml = YAML(typ="safe")
    covered = set()
    for f in SCENARIO_FILES:
        data = yaml.load(f.read_text(encoding="utf-8"))
        assert "expect" in data, f"{f.name} has no `expect:`"
        assert data.get("config") == "../fsl.yaml", f"{f.name} should use the folder's fsl.yaml"
        covered.add((f.parent / data["playbook"]).resolve())
    playbooks = {p.resolve() for p in SEQUENCES.glob("*.fsl")}
    assert playbooks - covered == set(), "playbooks without a scenario"


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(f.name, marks=pytest.mark.xfail(reason=KNOWN_ENGINE_BUGS[f.name], strict=True))
     if f.name in KNOWN_ENGINE_BUGS else f.name for f in SCENARIO_FILES],
)
def test_scenario_passes(results: dict[str, dict], scenario: str) -> None:
    assert scenario in results, f"fsl test did not run {scenario}"
    r = results[scenario]
    assert r["status"] == "pass", f"{scenario}: {r['message']}"


def test_fsl_test_reports_every_scenario(results: dict[str, dict]) -> None:
    assert sorted(results) == [f.name for f in SCENARIO_FILES]


def test_check_strict_is_clean() -> None:
    proc = fsl("check", "--strict", "sequences/", "--format", "json")
    report = json.loads(proc.stdout) if proc.stdout.strip() else None
    assert proc.returncode == 0, f"fsl check --strict sequences/ failed:\n{proc.stdout}{proc.stderr}"
    assert report is not None and report["diagnostics"] == []
    assert report["files"] == len(list(SEQUENCES.glob("*.fsl")))
