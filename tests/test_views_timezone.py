"""Human output of `status`, `tasks` and `report` shows instants in the
project's zone (`timezone:` in fsl.yaml) or `--tz`; JSON stays UTC."""
from __future__ import annotations

import json
from pathlib import Path

from .test_ops_support import at, cli, make_project, populate

WIDE = {"COLUMNS": "200"}  # rich wraps the report's header at 80 columns otherwise


def _project(tmp_path: Path) -> Path:
    config = make_project(tmp_path)
    config.write_text(config.read_text().replace("timezone: UTC", "timezone: Europe/Paris"))
    populate(config, 1)
    cli("tick", "--now", at(), "--no-deliver", cwd=tmp_path)
    cli("tick", "--now", at(days=1, minutes=5), cwd=tmp_path)  # a call task due 11-24 15:00Z
    return config


def test_tasks_show_due_times_in_the_project_zone_or_tz(tmp_path: Path) -> None:
    _project(tmp_path)
    text = cli("tasks", "--now", at(days=1, minutes=5), cwd=tmp_path).stdout
    assert "2026-11-24 16:00 CET" in text and "times in Europe/Paris" in text
    chicago = cli("tasks", "--tz", "America/Chicago", cwd=tmp_path).stdout
    assert "2026-11-24 09:00 CST" in chicago
    doc = json.loads(cli("tasks", "--format", "json", "--tz", "America/Chicago", cwd=tmp_path).stdout)
    assert doc["tasks"][0]["due"] == "2026-11-24T15:00:00Z"
    assert cli("tasks", "--tz", "Nowhere/Land", cwd=tmp_path).exit_code == 2


def test_status_shows_instants_in_the_project_zone_or_tz(tmp_path: Path) -> None:
    _project(tmp_path)
    text = cli("status", "--now", at(days=2), cwd=tmp_path).stdout
    assert "fsl status at 2026-11-25 16:00 CET (store clock 2026-11-24 16:05 CET)" in text
    assert "last tick: to 2026-11-24 16:05 CET" in text
    utc = cli("status", "--now", at(days=2), "--tz", "UTC", cwd=tmp_path).stdout
    assert "fsl status at 2026-11-25 15:00 UTC" in utc
    doc = json.loads(cli("status", "--now", at(days=2), "--format", "json", cwd=tmp_path).stdout)
    assert doc["now"] == "2026-11-25T15:00:00Z"


def test_report_header_in_the_project_zone_or_tz(tmp_path: Path) -> None:
    _project(tmp_path)
    text = cli("report", "--since", "2026-11-23", cwd=tmp_path, env=WIDE).stdout
    assert "2026-11-23 01:00 CET" in text and "data as of 2026-11-24 16:05 CET" in text
    tokyo = cli("report", "--tz", "Asia/Tokyo", cwd=tmp_path, env=WIDE).stdout
    assert "data as of 2026-11-25 00:05 JST" in tokyo
    doc = json.loads(cli("report", "--format", "json", "--tz", "Asia/Tokyo", cwd=tmp_path).stdout)
    assert doc["as_of"] == "2026-11-24T15:05:00Z"
    assert cli("report", "--tz", "Nowhere/Land", cwd=tmp_path).exit_code == 2
