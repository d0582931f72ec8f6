"""`fsl report` as a command: options, formats, exit codes (CLI.md conventions)."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from fsl.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures" / "report"
SCENARIO = str(FIXTURES / "scenario.yaml")


def run(*args: str):
    return CliRunner().invoke(main, ["report", *args])


def test_json_is_alone_on_stdout_and_has_every_section():
    res = run("--scenario", SCENARIO, "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data) >= {"source", "as_of", "playbooks", "winback", "execution", "outcomes_by_week", "notes"}
    assert [p["name"] for p in data["playbooks"]] == ["followup", "nudge", "winback"]
    assert data["winback"]["revenue"] == 3500
    assert data["execution"]["total"]["touches"] == 32


def test_filters_reach_the_report():
    res = run("--scenario", SCENARIO, "--format", "json", "--playbook", "winback",
              "--since", "2026-11-01", "--until", "2026-12-01T00:00:00Z")
    data = json.loads(res.stdout)
    assert (data["since"], data["until"], data["playbook"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "winback")
    assert [(p["name"], p["enrolled"]) for p in data["playbooks"]] == [("winback", 5)]


def test_text_tables_show_the_figures():
    res = run("--scenario", SCENARIO)
    assert res.exit_code == 0, res.output
    out = res.stdout
    for text in ("followup", "checkin", "Win-back", "rate 50% (3 of 6)", "revenue recovered 3,500",
                 "by segment: segment", "Follow-up execution", "Tasks by owner", "Outcomes by week", "2026-11-30"):
        assert text in out, text


def test_html_file_is_written_and_nothing_else_printed(tmp_path):
    page = tmp_path / "r.html"
    res = run("--scenario", SCENARIO, "--html", str(page))
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert "wrote" in res.stderr
    assert page.read_text().startswith("<!doctype html>")


def test_html_and_json_together(tmp_path):
    page = tmp_path / "r.html"
    res = run("--scenario", SCENARIO, "--html", str(page), "--format", "json")
    assert json.loads(res.stdout)["playbooks"] and page.exists()


def test_bad_usage_exits_2():
    assert run("--scenario", SCENARIO, "--since", "yesterday").exit_code == 2
    res = run("--scenario", SCENARIO, "--since", "2026-12-01", "--until", "2026-11-01")
    assert res.exit_code == 2 and "--until must be after --since" in res.stderr
    res = run("--scenario", str(FIXTURES / "missing.yaml"))
    assert res.exit_code == 2 and "cannot read the scenario" in res.stderr


def test_production_store_is_reported_unavailable_without_fsl_store(monkeypatch):
    import importlib
    import types

    from fsl.report import sources

    def import_module(name):
        if name == "fsl.store":
            raise ImportError("no fsl.store")
        return importlib.import_module(name)

    monkeypatch.setattr(sources, "importlib", types.SimpleNamespace(import_module=import_module))
    res = run("--config", str(FIXTURES / "fsl.yaml"))
    assert res.exit_code == 2
    assert "production store is not available yet" in res.stderr and "--scenario" in res.stderr


def test_no_project_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run()
    assert res.exit_code == 2 and "no fsl.yaml found" in res.stderr
