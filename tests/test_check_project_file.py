"""`fsl check` and the project file: none found (W408), or a broken one (its error alone)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.cli.main import main
from fsl.config import find_config

PLAYBOOK = """\
playbook unchecked:
    enroll on mystery_event where contact.no_such_field == "x"
    window weekdays 09:00-17:00
    stop on unsubscribed
    stop on bounced
    step one:
        send email "no_such_template"
"""


@pytest.fixture
def alone(tmp_path: Path, monkeypatch) -> Path:
    if find_config(tmp_path) is not None:
        pytest.skip("an fsl.yaml above the temporary folder")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.fsl").write_text(PLAYBOOK)
    return tmp_path


def test_no_project_file_warns_what_was_not_checked(alone):
    result = CliRunner().invoke(main, ["check", "a.fsl"])
    assert result.exit_code == 0, result.output
    assert "a.fsl:1:1: W408 no fsl.yaml found: fields, events, templates and channels were not checked" \
        in result.output
    assert "0 errors, 1 warning" in result.output


def test_no_project_file_fails_strict(alone):
    result = CliRunner().invoke(main, ["check", "--strict", "a.fsl"])
    assert result.exit_code == 1 and "W408" in result.output


def test_a_broken_project_file_gives_its_own_error_only(alone):
    (alone / "fsl.yaml").write_text("version: 1\nchannels:\n  email: {adapter: smtp, host: [1, 2}\n")
    result = CliRunner().invoke(main, ["check", "--format", "json"])
    assert result.exit_code == 1
    diags = json.loads(result.stdout)["diagnostics"]
    assert [(d["file"].endswith("fsl.yaml"), d["code"], d["line"]) for d in diags] == [(True, "E002", 3)]
    assert "no playbooks named" not in result.output
