"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself, and the GitHub Action's check step."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
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
GOOD = """playbook welcome:
    enroll on trial_started
    window weekdays 09:00-17:00
    stop on unsubscribed
    stop on bounced
    step a:
        send email "hello"
"""
# E209: no such template; W404, W405: no window, no `stop on bounced`
BAD = """playbook nudge:
    enroll on trial_started
    stop on unsubscribed
    step a:
        send email "helo"
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   cwd=cwd, check=True, capture_output=True)


def _repo(root: Path, playbook: str) -> Path:
    seq = root / "ops" / "sequences"
    (seq / "templates").mkdir(parents=True)
    (seq / "fsl.yaml").write_text(CONFIG)
    (seq / "templates" / "hello.md").write_text(TEMPLATE)
    (seq / "playbook.fsl").write_text(playbook)
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "playbooks")
    return seq


def test_hook_ids_follow_pre_commit_conventions() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["entry"] for h in hooks} == {"fsl-check": "fsl check", "fsl-fmt": "fsl fmt"}
    for h in hooks:
        assert h["language"] == "python" and h["files"] == r"\.fsl$" and h["name"]


@pytest.mark.network
def test_try_repo_hooks_pass_good_playbooks_and_fail_bad_ones(tmp_path: Path) -> None:
    """pre-commit installs fsl from this repository into its own environment: that needs
    PyPI for the dependencies (network), so every run shares one environment, in one test."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def try_repo(repo: Path, hook: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), hook, "--all-files"],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=900)

    good_repo, bad_repo = tmp_path / "good", tmp_path / "bad"
    good_file = _repo(good_repo, GOOD) / "playbook.fsl"
    _repo(bad_repo, BAD)
    good, bad = try_repo(good_repo, "fsl-check"), try_repo(bad_repo, "fsl-check")
    assert good.returncode == 0, good.stdout + good.stderr
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "E209" in bad.stdout
    # fsl-fmt: GOOD is not in the canonical layout (no blank lines between groups)
    first = try_repo(good_repo, "fsl-fmt")
    assert first.returncode == 1 and good_file.read_text() != GOOD, first.stdout + first.stderr
    again = try_repo(good_repo, "fsl-fmt")
    assert again.returncode == 0, again.stdout + again.stderr


def _action_step(name: str) -> str:
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"paths", "strict", "version"}
    return next(s["run"] for s in action["runs"]["steps"] if s["name"] == name)


@pytest.mark.parametrize(("strict", "code"), [("false", 1), ("true", 1)])
def test_action_check_step_annotates_from_the_root_in_a_subfolder(tmp_path: Path, strict: str, code: int) -> None:
    seq = _repo(tmp_path, BAD)
    env = {**os.environ, "FSL_PATHS": "playbook.fsl", "FSL_STRICT": strict,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", _action_step("fsl check")], cwd=seq, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert set(re.findall(r"file=([^,]+),", proc.stdout)) == {"ops/sequences/playbook.fsl"}
    assert re.search(r"^::error .*title=E209::", proc.stdout, re.M)


@pytest.mark.parametrize(("strict", "code"), [("false", 0), ("true", 1)])
def test_action_strict_input_fails_on_warnings(tmp_path: Path, strict: str, code: int) -> None:
    warn_only = GOOD.replace("    window weekdays 09:00-17:00\n", "")  # W404 alone
    seq = _repo(tmp_path, warn_only)
    env = {**os.environ, "FSL_PATHS": "", "FSL_STRICT": strict,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", _action_step("fsl check")], cwd=seq, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert re.search(r"^::warning file=ops/sequences/playbook.fsl,.*title=W404::", proc.stdout, re.M)
