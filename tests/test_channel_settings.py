"""Channel settings are validated when fsl.yaml is loaded (fsl/channel_settings.py):
every bad setting is an E002 at its line and column, with a did-you-mean."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.channel_settings import SmtpSettings, WebhookSettings
from fsl.cli.main import main
from fsl.config import load_config

BAD = """\
version: 1
channels:
  email:
    adapter: smtp
    host: 127.0.0.1
    form: "Ana <ana@acme.example>"
    port: "twenty-five"
    starttls: "maybe"
    retry: {max_atempts: 3}
    timout: 5
"""


def write(tmp: Path, text: str) -> Path:
    path = tmp / "fsl.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def diags_of(path: Path) -> list:
    config, diags = load_config(path)
    assert config is None
    return diags


def at(diags, line: int, column: int):
    found = [d for d in diags if (d.span.line, d.span.column) == (line, column)]
    assert len(found) == 1, [(d.span.line, d.span.column, d.message) for d in diags]
    assert found[0].code == "E002" and found[0].is_error
    return found[0]


def test_each_lenient_setting_is_an_error_at_its_position(tmp_path):
    diags = diags_of(write(tmp_path, BAD))
    assert len(diags) == 6, [d.message for d in diags]
    form = at(diags, 6, 5)
    assert "unknown setting `form`" in form.message and form.help == "did you mean `from`?"
    port = at(diags, 7, 11)
    assert "`port`" in port.message and "'twenty-five'" in port.message
    starttls = at(diags, 8, 15)
    assert "`starttls`" in starttls.message and "true or false" in starttls.message
    attempts = at(diags, 9, 13)
    assert "`max_atempts`" in attempts.message and attempts.help == "did you mean `max_attempts`?"
    timeout = at(diags, 10, 5)
    assert "`timout`" in timeout.message and timeout.help == "did you mean `timeout`?"
    missing = at(diags, 3, 3)  # the channel's name: `from` is missing (form is not from)
    assert missing.message == "channel `email` (smtp) needs `from`" and "from:" in missing.help


def test_missing_from_and_url_are_errors(tmp_path):
    diags = diags_of(write(tmp_path, """\
        version: 1
        channels:
          email: {adapter: smtp, host: 127.0.0.1}
          sms: {adapter: webhook}
          fax: {adapter: webhook, url: ~}
    """))
    assert [(d.span.line, d.span.column) for d in diags] == [(3, 3), (4, 3), (5, 27)]
    assert "needs `from`" in diags[0].message and "needs `url`" in diags[1].message
    assert "`url` of channel `fax` needs a value" == diags[2].message


def test_values_are_checked_and_never_quoted_after_substitution(tmp_path, monkeypatch):
    monkeypatch.setenv("FSL_TEST_SMTP_SECRET", "hunter22")
    diags = diags_of(write(tmp_path, """\
        version: 1
        channels:
          email: {adapter: smtp, from: nobody, port: "${FSL_TEST_SMTP_SECRET}", ssl: on, starttls: on}
          sms: {adapter: webhook, url: "ftp://files.example/x", retry: {jitter: 2, base: soon}}
          note: {adapter: task, host: x}
    """))
    messages = "\n".join(d.message for d in diags)
    assert "hunter22" not in messages and "${FSL_TEST_SMTP_SECRET}" in messages
    assert "`from` of channel `email`: expected an address" in messages
    assert "`retry.jitter` of channel `sms`" in messages and "`retry.base` of channel `sms`" in messages
    assert "unknown setting `host` in channel `note` (task)" in messages


def test_unset_env_keeps_defaults_and_required_keys_fail_at_send(tmp_path, monkeypatch):
    monkeypatch.delenv("FSL_TEST_UNSET_FROM", raising=False)
    monkeypatch.setenv("FSL_TEST_PORT", "2525")
    monkeypatch.setenv("FSL_TEST_TLS", "yes")
    config, diags = load_config(write(tmp_path, """\
        version: 1
        channels:
          email: {adapter: smtp, from: "${FSL_TEST_UNSET_FROM}", port: "${FSL_TEST_PORT}",
                  starttls: "${FSL_TEST_TLS}", timeout: 5 seconds, retry: {max_attempts: 3, cap: 10 minutes}}
          sms: {adapter: webhook, url: "https://hooks.example/sms", headers: {X-Key: "${FSL_TEST_UNSET_FROM}"}}
    """))
    assert diags == []
    email = config.channels["email"].settings
    assert isinstance(email, SmtpSettings)
    assert (email.sender, email.effective_port, email.starttls, email.timeout) == (None, 2525, True, 5.0)
    assert (email.retry.max_attempts, email.retry.cap, email.retry.base) == (3, 600.0, 30.0)
    sms = config.channels["sms"].settings
    assert isinstance(sms, WebhookSettings) and sms.timeout == 10.0


def test_a_password_stays_out_of_the_settings_repr_and_of_messages(tmp_path):
    settings = SmtpSettings.model_validate({"from": "a@b.example", "password": "hunter22"})
    assert "hunter22" not in repr(settings)
    diags = diags_of(write(tmp_path, """\
        version: 1
        channels:
          email: {adapter: smtp, from: a@b.example, password: 8675309}
          sms: {adapter: webhook, url: "https://h.example/x", token: 4242424242, headers: {X-Key: 1234567}}
    """))
    assert [(d.span.line, d.span.column) for d in diags] == [(3, 55), (4, 62), (4, 91)]  # at each value
    text = "\n".join(d.message for d in diags)
    assert "`password` of channel `email`: input should be a valid string" in text
    assert "8675309" not in text and "4242424242" not in text and "1234567" not in text


@pytest.mark.parametrize("command", [["deploy"], ["tick", "--now", "2026-01-05T09:00:00Z"], ["worker", "--run-now", "--max-ticks", "1"]])
def test_runtime_commands_refuse_a_project_with_config_errors(tmp_path, monkeypatch, command):
    write(tmp_path, BAD + "store: sqlite:///fsl.db\n")
    (tmp_path / "sequences").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    assert "fsl.yaml:6:5: E002 unknown setting `form`" in result.output
    assert not (tmp_path / "fsl.db").exists()  # nothing ran: not even the store was created


def test_check_shows_each_setting_error_under_its_line(tmp_path, monkeypatch):
    write(tmp_path, BAD)
    (tmp_path / "sequences").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "fsl.yaml:9:13: E002 unknown setting `max_atempts` in `retry` of channel `email`" in result.output
    assert " 9 |     retry: {max_atempts: 3}\n   |             ^^^^^^^^^^^" in result.output
    assert "= help: did you mean `max_attempts`?" in result.output
    assert "6 errors" in result.output and "no playbooks named" not in result.output
