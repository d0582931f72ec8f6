"""`fsl check --format github|sarif` name files from the repository root, wherever it runs.

GitHub resolves annotation and SARIF paths against the repository root; a
workflow step that runs in a subfolder must still land on the right file.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

# sends email with no window and no `stop on bounced`: two warnings, on line 1
BAD = """playbook nudge:
    enroll on trial_started
    stop on unsubscribed
    step a:
        send email "hello"
"""
CONFIG = """version: 1
sequences: ./
templates: templates/
store: sqlite:///:memory:
events:
  trial_started: {}
channels:
  email: {adapter: smtp, host: 127.0.0.1, port: 1025, from: "Team <team@example.com>"}
"""
TEMPLATE = "---\nsubject: Hello\n---\nHello.\n"


def _project(root: Path) -> Path:
    seq = root / "ops" / "sequences"
    (seq / "templates").mkdir(parents=True)
    (seq / "fsl.yaml").write_text(CONFIG)
    (seq / "templates" / "hello.md").write_text(TEMPLATE)
    (seq / "nudge.fsl").write_text(BAD)
    return seq


def _check(cwd: Path, fmt: str, *paths: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "fsl", "check", "--format", fmt, *paths],
                          cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr  # warnings only
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


def test_github_annotations_from_a_subfolder_name_the_file_from_the_root(repo: Path) -> None:
    seq = _project(repo)
    out = _check(seq, "github")
    files = set(re.findall(r"file=([^,]+),", out))
    assert files == {"ops/sequences/nudge.fsl"}, out


def test_github_paths_given_relative_to_another_subfolder(repo: Path) -> None:
    _project(repo)
    (repo / "ops" / "tools").mkdir()
    out = _check(repo / "ops" / "tools", "github", "../sequences/nudge.fsl", "--config", "../sequences/fsl.yaml")
    assert set(re.findall(r"file=([^,]+),", out)) == {"ops/sequences/nudge.fsl"}, out


def test_sarif_uris_from_a_subfolder_are_relative_to_the_root(repo: Path) -> None:
    seq = _project(repo)
    log = json.loads(_check(seq, "sarif"))
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"] for loc in r["locations"]}
    assert uris == {"ops/sequences/nudge.fsl"}


def test_outside_a_repository_paths_stay_as_named(tmp_path: Path) -> None:
    if any((p / ".git").exists() for p in (tmp_path, *tmp_path.parents)):
        pytest.skip("the temporary folder sits inside a git repository")
    seq = _project(tmp_path)
    out = _check(seq, "github", "nudge.fsl")
    assert set(re.findall(r"file=([^,]+),", out)) == {"nudge.fsl"}, out
