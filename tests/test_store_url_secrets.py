"""A store URL's password never appears in any command's output (issue 12 section 8)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.cli.main import main

SECRET = "PgSecret-991x"
BAD_URLS = [
    f"postgres://app:{SECRET}@db.example:5432/fsl",  # unsupported scheme
    f"postgresql+nodriver://app:{SECRET}@db.example/fsl",  # a driver that does not exist
    f"postgresql://app:{SECRET}@db.example:notaport/fsl",  # unparsable
    f"mysql://app:{SECRET}@127.0.0.1:1/fsl",  # unsupported backend
    f"postgresql://app:{SECRET}@127.0.0.1:1/fsl?connect_timeout=2",  # unreachable
    f"postgresql://app:{SECRET}@[::1/fsl",  # unparsable netloc
]

PLAYBOOK = """\
playbook hello:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed

    step recap:
        send email "recap"
"""

COMMANDS = [
    ["check"], ["deploy"], ["tick", "--now", "2026-11-23T14:00:00Z"], ["status"], ["explain", "c1"],
    ["contacts", "import", "{root}/c.csv"], ["deals", "import", "{root}/d.csv"],
    ["events", "import", "{root}/e.jsonl"], ["event", "meeting_ended", "--contact", "c1"],
    ["enroll", "hello", "--contact", "c1"], ["report"], ["report", "--format", "json"], ["db", "upgrade"],
    ["db", "version"], ["tasks"], ["review"], ["render", "hello", "recap", "--contact", "c1"],
    ["worker", "--run-now"], ["status", "--format", "json"], ["tick", "--format", "json"],
]


def _project(tmp_path: Path, url: str) -> Path:
    (tmp_path / "fsl.yaml").write_text(f"""\
version: 1
store: "{url}"
timezone: UTC
events:
  meeting_ended: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: 1, from: "Ana <ana@acme.example>"}}
""")
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "hello.fsl").write_text(PLAYBOOK)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "recap.md").write_text('---\nsubject: "Hi"\n---\nHi\n')
    (tmp_path / "c.csv").write_text("id,email\nc1,a@x.example\n")
    (tmp_path / "d.csv").write_text("id,contact\nd1,c1\n")
    (tmp_path / "e.jsonl").write_text(json.dumps({"at": "2026-11-23T14:00:00Z", "type": "meeting_ended",
                                                  "contact": "c1"}) + "\n")
    return tmp_path


def _run(root: Path, args: list[str], env: dict[str, str] | None = None) -> str:
    args = [a.replace("{root}", str(root)) for a in args]
    result = CliRunner().invoke(main, [*args, "--config", str(root / "fsl.yaml")], env=env)
    text = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        text += "".join(traceback.format_exception(result.exception))
    return text


@pytest.mark.parametrize("url", BAD_URLS)
def test_no_command_prints_the_store_password(tmp_path, url):
    root = _project(tmp_path, url)
    leaks = {}
    for args in COMMANDS:
        out = _run(root, args)
        if SECRET in out:
            leaks[" ".join(args)] = out[-400:]
    assert leaks == {}


@pytest.mark.parametrize("url", BAD_URLS[:3])
def test_fsl_store_from_the_environment_is_masked_too(tmp_path, url):
    root = _project(tmp_path, "sqlite:///fsl.db")
    for args in (["status"], ["db", "upgrade"], ["report"], ["tick"]):
        out = _run(root, args, env={"FSL_STORE": url})
        assert SECRET not in out and out.strip(), args
