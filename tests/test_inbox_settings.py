"""`inbox:` in fsl.yaml (CONFIG.md): typed, unknown keys refused at their line, the password never quoted."""
from __future__ import annotations

from fsl.config import load_config

BASE = "version: 1\nsequences: sequences/\ntemplates: templates/\n"


def _load(tmp_path, inbox: str):
    path = tmp_path / "fsl.yaml"
    path.write_text(BASE + inbox)
    return load_config(path)


def test_a_valid_inbox_block_with_yaml_flags_and_a_relative_ca_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FSL_INBOX_PASSWORD", "s3cret-pass")
    config, diags = _load(tmp_path, "inbox:\n  host: imap.acme.example\n  tls: on\n  ca_file: certs/ca.pem\n"
                                    "  username: replies@acme.example\n  password: ${FSL_INBOX_PASSWORD}\n")
    assert diags == [] and config is not None and config.inbox is not None
    inbox = config.inbox
    assert (inbox.tls, inbox.effective_port, inbox.folder, inbox.processed_folder) == ("on", 993, "INBOX", None)
    assert inbox.ca_file == (tmp_path / "certs" / "ca.pem").resolve()
    assert "s3cret-pass" not in repr(inbox)
    config, _ = _load(tmp_path, "inbox:\n  host: h\n  tls: starttls\n  username: u\n")
    assert config is not None and config.inbox is not None and config.inbox.effective_port == 143


def test_mistakes_are_reported_at_their_line_without_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("FSL_INBOX_PASSWORD", "s3cret-pass")
    config, diags = _load(tmp_path, "inbox:\n  host: imap.acme.example\n  tls: sometimes\n  usernme: x\n"
                                    "  password: ${FSL_INBOX_PASSWORD}\n  port: 99999\n")
    assert config is None
    text = "\n".join(f"{d.span.line}: {d.message}" for d in diags)
    assert "6: `inbox.tls`" in text and "sometimes" in text
    assert "7: unknown setting `inbox.usernme`" in text and "did you mean `username`?" in text
    assert "9: `inbox.port`" in text
    assert "`inbox.username` is required" in text
    assert "s3cret-pass" not in text
