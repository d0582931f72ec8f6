"""Scenario files, `fsl simulate` and `fsl test` (CLI.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.cli.scenarios import simulate_command
from fsl.cli.scenarios import test_command as fsl_test
from fsl.simulator.scenario import ScenarioError, load_scenario

from .conftest import CONFORMANCE as SUITE  # noqa: E402

PLAYBOOK = """playbook basic:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step first:
        send email "nurture"

    step second after 2 days:
        send email "nurture"
"""

SCENARIO = """playbook: basic.fsl
start: 2026-11-23T00:00:00Z
until: 2026-12-31T00:00:00Z
contacts:
  - {id: c1, email: c1@example.com, first_name: Ana}
events:
  - {at: 2026-11-23T16:00:00+02:00, type: meeting_ended, contact: c1}
expect:
  actions:
    - {at: 2026-11-23T14:00:00Z, contact: c1, step: first, kind: send, template: nurture}
    - {at: 2026-11-25T14:00:00Z, contact: c1, step: second, kind: send}
  outcomes:
    - {contact: c1, playbook: basic, outcome: completed, at: 2026-11-25T14:00:00Z}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    text = (SUITE / "fsl.yaml").read_text().replace("templates: templates/", f"templates: {SUITE / 'templates'}/")
    (tmp_path / "fsl.yaml").write_text(text)
    (tmp_path / "basic.fsl").write_text(PLAYBOOK)
    return tmp_path


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text)
    return p


def test_simulate_json_finds_the_project_file_and_accepts_offsets(project):
    path = write(project, "s.yaml", SCENARIO)
    res = CliRunner().invoke(simulate_command, [str(path), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [(a["at"], a["step"]) for a in out["actions"]] == [("2026-11-23T14:00:00Z", "first"),
                                                             ("2026-11-25T14:00:00Z", "second")]
    assert out["outcomes"][0]["outcome"] == "completed"


def test_simulate_text_shows_the_timeline_with_local_times_and_outcomes(project):
    path = write(project, "s.yaml", SCENARIO.replace('timezone "UTC"', ""))
    res = CliRunner().invoke(simulate_command, [str(path)])
    assert res.exit_code == 0
    assert 'first: send email "nurture"' in res.stdout
    assert "c1 basic: completed at 2026-11-25T14:00:00Z" in res.stdout


def test_an_active_enrollment_at_until_is_reported_with_no_instant(project):
    path = write(project, "s.yaml", SCENARIO.replace("until: 2026-12-31T00:00:00Z", "until: 2026-11-24T00:00:00Z"))
    out = json.loads(CliRunner().invoke(simulate_command, [str(path), "--format", "json"]).stdout)
    assert [(o["outcome"], o["at"]) for o in out["outcomes"]] == [("active", None)]


def test_an_event_on_a_message_never_sent_is_a_warning_not_an_error(project):
    text = SCENARIO.replace("expect:", "  - {at: 2026-11-24T09:00:00Z, type: opened, contact: c1, step: second}\nexpect:")
    path = write(project, "s.yaml", text)
    res = CliRunner().invoke(simulate_command, [str(path), "--format", "json"])
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert len(out["warnings"]) == 1 and "never sent" in out["warnings"][0]["message"]
    assert out["warnings"][0]["line"] == 8


@pytest.mark.parametrize("change, line, words", [
    (("contact: c1}", "contact: c9}"), 7, "unknown contact c9"),
    (("2026-11-23T16:00:00+02:00", "next tuesday"), 7, "malformed instant"),
    (("{at: 2026-11-23T16:00:00+02:00, type", "{type"), 7, "missing `at`"),
    (("type: meeting_ended", "type: meeting_endd"), 7, "unknown event type meeting_endd"),
    (("playbook: basic.fsl", "playbook: nothere.fsl"), 1, "not found"),
    (("start: 2026-11-23T00:00:00Z\n", ""), 1, "missing `start`"),
])
def test_a_bad_scenario_is_an_error_with_file_and_line(project, change, line, words):
    path = write(project, "s.yaml", SCENARIO.replace(*change))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.line == line and words in str(info.value)
    assert str(info.value).startswith(f"{path}:{line}:")
    res = CliRunner().invoke(simulate_command, [str(path), "--format", "json"])
    assert res.exit_code == 2 and res.stdout == ""


def test_a_playbook_with_errors_is_reported_and_exits_2(project):
    write(project, "basic.fsl", PLAYBOOK.replace("send email", "send emial"))
    path = write(project, "s.yaml", SCENARIO)
    res = CliRunner().invoke(simulate_command, [str(path)])
    assert res.exit_code == 2
    assert "E208" in res.stderr


def test_fsl_test_passes_fails_with_the_first_difference_and_exits_2_on_bad_input(project):
    write(project, "good.yaml", SCENARIO)
    runner = CliRunner()
    res = runner.invoke(fsl_test, [str(project)])
    assert res.exit_code == 0 and "PASS" in res.stdout and "1 passed, 0 failed" in res.stdout
    write(project, "bad.yaml", SCENARIO.replace("at: 2026-11-25T14:00:00Z, contact: c1, step: second",
                                                "at: 2026-11-26T14:00:00Z, contact: c1, step: second"))
    res = runner.invoke(fsl_test, [str(project)])
    assert res.exit_code == 1
    assert "FAIL" in res.stdout and "action 2: expected {at: 2026-11-26T14:00:00Z" in res.stdout
    write(project, "broken.yaml", SCENARIO.replace("contact: c1}", "contact: c7}"))
    res = runner.invoke(fsl_test, [str(project)])
    assert res.exit_code == 2 and "ERROR" in res.stdout and "unknown contact c7" in res.stdout


def test_fsl_test_compares_outcomes_as_a_set(project):
    text = SCENARIO.replace("outcome: completed", "outcome: stopped")
    res = CliRunner().invoke(fsl_test, [str(write(project, "s.yaml", text))])
    assert res.exit_code == 1 and "expected outcome c1/basic stopped" in res.stdout


def test_fsl_test_skips_yaml_files_without_expect_in_folders(project):
    write(project, "data.yaml", "just: data\n")
    write(project, "good.yaml", SCENARIO)
    res = CliRunner().invoke(fsl_test, [str(project)])
    assert res.exit_code == 0 and "data.yaml" not in res.stdout


def test_the_conformance_scenarios_pass_under_fsl_test():
    res = CliRunner().invoke(fsl_test, [str(SUITE / "scenarios")])
    assert res.exit_code == 0, res.stdout
    count = len(list((SUITE / "scenarios").glob("S*.yaml")))
    assert count >= 17 and f"{count} passed, 0 failed" in res.stdout
