"""The `server:` block of fsl.yaml and the tracking tokens (no server process needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from fsl.config import load_config
from fsl.signals import tokens

SECRET = "a-token-secret-0123456789abcdef"


def _load(folder: Path, server: str, monkeypatch, **env: str):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (folder / "fsl.yaml").write_text("version: 1\nserver:\n" + server)
    return load_config(folder / "fsl.yaml")


def test_server_block_is_typed_and_read(tmp_path, monkeypatch):
    config, diags = _load(tmp_path, "  base_url: https://t.acme.example/\n  secret: ${S}\n"
                                    "  secrets_old: [\"${OLD}\", \"${GONE}\"]\n  forwarded_allow_ips: [10.0.0.0/8]\n"
                                    "  machine: {after_delivery: 1 minute}\n", monkeypatch, S=SECRET, OLD=SECRET[::-1])
    assert diags == []
    server = config.server
    assert server.base_url == "https://t.acme.example"
    assert server.listen == "127.0.0.1:8080"
    assert server.secrets_old == [SECRET[::-1]]  # an unset ${GONE} is no secret at all
    assert server.machine.after_delivery == 60.0
    assert SECRET not in repr(server)


def test_server_block_problems_point_at_their_line_and_never_quote_a_secret(tmp_path, monkeypatch):
    _, diags = _load(tmp_path, "  base_url: ftp://x\n  secret: ${S}\n  listen: nowhere\n"
                               "  machine: {after_delivry: 3}\n  forwarded_allow_ips: [not-an-ip]\n",
                     monkeypatch, S="short-secret")
    found = {(d.span.line, d.span.column): d.message for d in diags}
    assert "http:// or https://" in found[(3, 13)]
    assert "at least 16 characters" in found[(4, 11)] and "short-secret" not in found[(4, 11)]
    assert "HOST:PORT" in found[(5, 11)]
    assert "did you mean `after_delivery`" in found[(6, 13)]
    assert "IP addresses" in next(m for (line, _), m in found.items() if line == 7)


def test_unknown_server_key_is_an_error(tmp_path, monkeypatch):
    _, diags = _load(tmp_path, "  secert: x\n", monkeypatch)
    assert len(diags) == 1 and "did you mean `secret`" in diags[0].message


def test_tokens_round_trip_rotate_and_are_bound_to_their_kind():
    click = tokens.make(SECRET, "12:hello:0:0", 3)
    assert tokens.verify(click, "click", SECRET) == tokens.Claim("click", "12:hello:0:0", 3)
    assert tokens.verify(click, "click", "a-new-secret-000000000000000", [SECRET]) is not None  # rotation
    assert tokens.verify(click, "click", "a-new-secret-000000000000000") is None  # old secret dropped
    assert tokens.verify(click, "unsubscribe", SECRET) is None
    assert tokens.verify(click, "open", SECRET) is None
    assert tokens.verify(click[:-1], "click", SECRET) is None
    assert "hello@" not in click and "@" not in click
    unsubscribe = tokens.make(SECRET, "12:hello:0:0", kind="unsubscribe")
    assert tokens.verify(unsubscribe, "unsubscribe", SECRET) == tokens.Claim("unsubscribe", "12:hello:0:0", None)


@pytest.mark.parametrize("bad", ["", ".", "a.b", "W10.x", "WyJ4Il0", "\u00e9\u00e9.\u00e9"])
def test_garbage_tokens_are_refused(bad):
    assert tokens.verify(bad, "click", SECRET) is None


def test_make_refuses_a_click_without_a_link_and_an_unknown_kind():
    with pytest.raises(ValueError):
        tokens.make(SECRET, "1:a:0:0")
    with pytest.raises(ValueError):
        tokens.make(SECRET, "1:a:0:0", 1, kind="open")
    with pytest.raises(ValueError):
        tokens.make(SECRET, "1:a:0:0", kind="bounce")


def test_fsl_serve_without_a_secret_says_what_to_set(tmp_path):
    from .test_ops_support import cli, make_project

    make_project(tmp_path)
    result = cli("serve", cwd=tmp_path)
    assert result.exit_code == 2
    assert "server.secret" in result.output
