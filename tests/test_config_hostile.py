"""Hostile project files: unset variables, alias bombs, deep lists (issue 12 section 8)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from fsl.config import load_config

from .test_config import only_error, write


def test_an_unset_variable_in_store_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FSL_TEST_UNSET_STORE", raising=False)
    path = write(tmp_path, """
        version: 1
        store: ${FSL_TEST_UNSET_STORE}
    """)
    diag = only_error(path)
    assert diag.code == "E002" and diag.span.line == 2
    assert "FSL_TEST_UNSET_STORE" in diag.message and "not set" in diag.message
    monkeypatch.setenv("FSL_TEST_UNSET_STORE", "sqlite:///other.db")
    config, diags = load_config(path)
    assert diags == [] and config.store.endswith("other.db")


def _bomb() -> str:
    text = 'version: 1\na0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for i in range(1, 9):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    return text + "channels:\n  email: {adapter: smtp, host: h, from: a@b.example, x: *a8}\n"


def _deep() -> str:
    return "version: 1\nschema:\n  contact:\n    x: " + "[" * 246 + "]" * 246 + "\n"


@pytest.mark.parametrize("text, line, words", [(_bomb(), 6, "expands to more than"),
                                                (_deep(), 4, "nest deeper than 64")])
def test_an_alias_bomb_or_a_deep_list_is_a_diagnostic(tmp_path, text, line, words):
    path = tmp_path / "fsl.yaml"
    path.write_text(text)
    # a subprocess with a generous timeout: a regression hangs or crashes, it must not hang the suite
    done = subprocess.run([sys.executable, "-m", "fsl", "check", "--config", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert f"fsl.yaml:{line}:" in done.stdout + done.stderr and words in done.stdout + done.stderr


def test_aliases_and_merge_keys_within_bounds_still_load(tmp_path):
    path = write(tmp_path, """
        version: 1
        channels:
          email: &base {adapter: smtp, host: h, from: a@b.example}
          email2: {<<: *base, port: 2525}
    """)
    config, diags = load_config(path)
    assert diags == [] and config.channels["email2"].settings.host == "h"
