"""`fsl test` reports every failed expectation, each with its scenario line,
and never prints Python's `None`."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fsl.cli.scenarios import test_command as fsl_test

PLAYBOOK = """playbook basic:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed

    step first:
        task call "Call them"

    step second after 2 days:
        send email "nurture"
"""

SCENARIO = """playbook: basic.fsl
start: 2026-11-23T00:00:00Z
until: 2026-11-24T00:00:00Z
contacts:
  - {id: c1, email: c1@example.com}
events:
  - {at: 2026-11-23T14:00:00Z, type: meeting_ended, contact: c1}
expect:
  actions:
    - {at: 2026-11-23T15:00:00Z, contact: c1, step: first, kind: task, channel: call, template: null}
    - {at: 2026-11-25T14:00:00Z, contact: c1, step: second, kind: send}
  outcomes:
    - {contact: c1, playbook: basic, outcome: completed, at: 2026-11-25T14:00:00Z}
"""


def _run(tmp_path: Path, *args: str):
    (tmp_path / "basic.fsl").write_text(PLAYBOOK)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    return CliRunner().invoke(fsl_test, [str(tmp_path / "s.yaml"), *args])


def test_every_failed_expectation_is_reported_with_its_line(tmp_path: Path) -> None:
    res = _run(tmp_path)
    assert res.exit_code == 1
    out = res.stdout
    scenario = tmp_path / "s.yaml"
    assert f"FAIL  {scenario}: 3 failed expectations" in out
    assert f"{scenario}:10: action 1: expected {{at: 2026-11-23T15:00:00Z" in out and "(at differs)" in out
    assert f"{scenario}:11: action 2 missing: expected {{at: 2026-11-25T14:00:00Z" in out
    assert f"{scenario}:13: expected outcome c1/basic completed at 2026-11-25T14:00:00Z not found; " \
           "got c1/basic active (still running, no end)" in out
    assert "template: null" in out
    assert "None" not in out


def test_the_json_lists_every_failure(tmp_path: Path) -> None:
    doc = json.loads(_run(tmp_path, "--format", "json").stdout)
    failures = doc["scenarios"][0]["failures"]
    assert [f["line"] for f in failures] == [10, 11, 13]
    assert doc["scenarios"][0]["message"].startswith(f"{tmp_path / 's.yaml'}:10: action 1")
    assert "None" not in json.dumps(doc)
