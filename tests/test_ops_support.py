"""Helpers for the runtime tests (test_store*, test_tick*, test_deploy*, ...):
a small project on disk, a real SMTP server on loopback, the CLI.

No test lives here; the module is named so that it sits with the tests it
serves.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from pathlib import Path

from click.testing import CliRunner
from .ports import free_port  # noqa: F401 - the tests import it from here too

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 15:00 UTC

WELCOME = """\
playbook welcome:
    enroll on signed_up
    timezone contact.timezone default "UTC"
    stop on replied where event.kind == "human"
    stop on unsubscribed
    pause on replied where event.kind == "out_of_office" for 3 days

    step hello:
        send email "hello"

    step followup after 1 day:
        send email "followup"
        task call "Call {{ contact.first_name }}"

    step last after 2 days:
        send email "followup"
"""

HELLO = """\
---
subject: "Hello {{ contact.first_name }}"
---
Hi {{ contact.first_name }}, welcome aboard.
"""

FOLLOWUP = """\
---
subject: "Checking in, {{ contact.first_name }}"
---
Hi {{ contact.first_name }}, how is it going?
"""

CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
events:
  signed_up: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: {port}, from: "Acme <hello@acme.example>", timeout: 5,
           retry: {{max_attempts: {attempts}, base: 60, factor: 2, jitter: 0}}}}
"""


def make_project(folder: Path, *, port: int = 9, attempts: int = 3, playbooks: dict[str, str] | None = None) -> Path:
    """A project with the `welcome` playbook (or the ones given); returns fsl.yaml."""
    (folder / "sequences").mkdir(parents=True, exist_ok=True)
    (folder / "templates").mkdir(exist_ok=True)
    for name, text in (playbooks or {"welcome": WELCOME}).items():
        (folder / "sequences" / f"{name}.fsl").write_text(text)
    (folder / "templates" / "hello.md").write_text(HELLO)
    (folder / "templates" / "followup.md").write_text(FOLLOWUP)
    (folder / "fsl.yaml").write_text(CONFIG.format(port=port, attempts=attempts))
    return folder / "fsl.yaml"


def runtime(config: Path, **kwargs):
    from fsl.runtime.runtime import Runtime

    return Runtime.open(config, **kwargs)


def contacts(n: int, start: int = 1):
    from fsl.engine.model import Contact

    return [Contact(f"c{i:04d}", {"id": f"c{i:04d}", "email": f"user{i}@example.com", "first_name": f"User{i}",
                                  "owner": "rep@acme.example" if i % 2 else "Ana Ruiz <ana@acme.example>"})
            for i in range(start, start + n)]


def signups(ids: list[str], at: datetime = T0):
    from fsl.engine.model import Event

    return [Event(at, "signed_up", cid) for cid in ids]


def populate(config: Path, n: int, at: datetime = T0, deploy: bool = True) -> None:
    """Deploy, load n contacts and queue their sign-ups at `at`."""
    rt = runtime(config)
    try:
        if deploy:
            from fsl.runtime.deploy import deploy as do_deploy

            do_deploy(rt, [], now=at)
        people = contacts(n)
        rt.put_contacts(people, now=at)
        rt.record_events(signups([c.id for c in people], at))
    finally:
        rt.close()


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None):
    """Run `fsl ARGS` in-process (fast); returns click's Result."""
    from fsl.cli.main import main

    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    finally:
        os.chdir(old)


def fsl_process(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    """`python -m fsl ARGS` as a separate process."""
    env = dict(os.environ)
    env.pop("FSL_STORE", None)
    return subprocess.Popen([sys.executable, "-m", "fsl", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


# ---------------------------------------------------------------- an SMTP server on loopback

@dataclass
class Sink:
    """What the SMTP server received; `answers` scripts replies per recipient:
    a list of codes consumed one per attempt (then 250), e.g. [451] or [550]*9."""

    arrivals: list[dict] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_message_id(self) -> Counter:
        with self.lock:
            return Counter(a["message_id"] for a in self.arrivals)


class _Handler:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.sink.lock:
            script = self.sink.answers.get(address)
            code = script.pop(0) if script else 250
        if code == 451:
            return "451 4.3.0 try again later"
        if code == 550:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content)
        with self.sink.lock:
            self.sink.arrivals.append({"to": list(envelope.rcpt_tos), "message_id": msg["Message-ID"],
                                       "subject": msg["Subject"], "key": msg["X-FSL-Key"]})
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 and a free port, in a thread of this process."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.sink = Sink()
        self.port = free_port()
        self.controller = Controller(_Handler(self.sink), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "SmtpServer":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def at(minutes: float = 0, days: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes, days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


RECAP = '---\nsubject: "Hi"\n---\nHi {{ contact.first_name }}\n'


def write_project(root: Path, config: str, playbook: str) -> Path:
    """A project folder: fsl.yaml, sequences/hello.fsl and templates/recap.md."""
    (root / "fsl.yaml").write_text(config)
    (root / "sequences").mkdir()
    (root / "sequences" / "hello.fsl").write_text(playbook)
    (root / "templates").mkdir()
    (root / "templates" / "recap.md").write_text(RECAP)
    return root


def fsl_in(project: Path, *args: str) -> tuple[int, str, str]:
    """`fsl ARGS --config PROJECT/fsl.yaml` in-process: (exit code, stdout, stderr)."""
    from fsl.cli.main import main

    result = CliRunner().invoke(main, [*args, "--config", str(project / "fsl.yaml")], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr
