"""The console's test project: a real `fsl serve` process over a SQLite store, a real
SMTP server and an OpenAI-compatible model server on loopback (tests/test_console*.py).

Contacts: c1..c3 and the hostile c4 belong to `ana`, c5 and c8 to `bob`; c6 and c7 ask for a
model-written note that the model writes badly (a guard fails), so each is held for
review.  Users: ana and bob (reps of team east), maria (manager of east), root (admin).
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .llm_server import FakeLLMServer, Reply
from .smtp_sink import SmtpSink, free_port
from .test_ops_support import T0, cli, make_project, runtime
from .test_serve import _env, start_server

PASSWORD = "correct horse battery staple"
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>Eve'

CALLS = """\
playbook calls:
    enroll on signed_up
    timezone contact.timezone default "UTC"
    stop on task_done where event.status == "won"
    stop on unsubscribed

    step call:
        task call "Call {{ contact.first_name }}"

    step nudge after 2 days:
        send email "hello"
"""

NOTED = """\
playbook noted:
    enroll on asked_note
    stop on unsubscribed
    step note:
        send email "note"
"""

NOTE = """\
---
subject: "Notes for {{ contact.first_name }}"
renderer: llm
max_words: 120
avoid: ["just checking in"]
---
Write a short, friendly note to {{ contact.first_name }} about getting started.
"""

EVENTS = """\
events:
  signed_up: {}
  asked_note: {}
"""

SERVER = """
server:
  base_url: http://127.0.0.1:{port}
  listen: 127.0.0.1:{port}
  secret: ${{FSL_SERVER_SECRET}}
"""

PEOPLE = {"c1": ("Carla", "ana"), "c2": ("Dev", "ana"), "c3": ("Lin", "ana"), "c4": (HOSTILE, "ana"),
          "c5": ("Bruno", "bob"), "c6": ("Nora", "ana"), "c7": ("Omar", "ana"), "c8": ("Ines", "bob")}


def build(folder: Path, smtp_port: int, llm_url: str, store: str | None = None) -> tuple[Path, int]:
    """The project, deployed, populated and ticked once; returns (fsl.yaml, the server's port).
    `store`: a store URL instead of the SQLite file (PostgreSQL)."""
    config = make_project(folder, port=smtp_port, playbooks={"calls": CALLS, "noted": NOTED})
    (folder / "templates" / "note.md").write_text(NOTE)
    port = free_port()
    text = config.read_text().replace("events:\n  signed_up: {}\n", EVENTS)
    if store is not None:
        text = text.replace("store: sqlite:///fsl.db", f'store: "{store}"')
    text += f'llm: {{base_url: "{llm_url}", model: fake, api_key: "sk-test", timeout: 2, max_retries: 1}}\n'
    config.write_text(text + SERVER.format(port=port))
    from fsl.engine.model import Contact, Event
    from fsl.runtime.deploy import deploy

    os.environ.update(_env())
    try:
        rt = runtime(config)
        try:
            deploy(rt, [], now=T0)
            rt.put_contacts([Contact(cid, {"id": cid, "email": f"{cid}@example.com", "first_name": name,
                                           "owner": owner, "phone": "+1 415 555 01" + cid[1:].zfill(2)})
                             for cid, (name, owner) in PEOPLE.items()], now=T0)
            rt.record_events([Event(T0, "signed_up", cid) for cid in ("c1", "c2", "c3", "c4", "c5", "c8")]
                             + [Event(T0, "asked_note", cid) for cid in ("c6", "c7")])
        finally:
            rt.close()
        fsl_tick(folder, T0 + timedelta(minutes=1))
    finally:
        for name in ("FSL_SERVER_SECRET", "FSL_OLD_SECRET", "FSL_EVENTS_TOKEN"):
            os.environ.pop(name, None)
    for name, role, team in (("ana", "rep", "east"), ("bob", "rep", "east"), ("maria", "manager", "east"),
                             ("root", "admin", None)):
        args = ["users", "add", name, "--role", role, "--timezone", "America/New_York", "--password-stdin",
                "--email", f"{name}@acme.example", "--display-name", name.title()]
        result = cli(*args, *(["--team", team] if team else []), cwd=folder, input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
    return config, port


def fsl_tick(folder: Path, now: datetime) -> None:
    """`fsl tick --now` as its own process (the browser tests' Playwright holds this thread's
    event loop, and a tick runs its own)."""
    done = subprocess.run([sys.executable, "-m", "fsl", "tick", "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ")],
                          cwd=folder, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def tick(config: Path, minutes: int = 2) -> None:
    """One tick a little after the wall clock (the server records task_done at the wall clock)."""
    fsl_tick(config.parent, datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=minutes))


class Served:
    """The whole set-up; `with Served(tmp) as s:` starts the model, SMTP and `fsl serve`."""

    def __init__(self, folder: Path, store: str | None = None) -> None:
        self.folder = folder
        self.store = store

    def __enter__(self) -> "Served":
        self.smtp = SmtpSink().__enter__()
        self.llm = FakeLLMServer().__enter__()
        self.llm.responder = lambda request: Reply.breaking("avoid")
        self.config, port = build(self.folder, self.smtp.port, self.llm.base_url, self.store)
        # X-Forwarded-For from loopback is trusted: each test logs in from an address of its own
        self.proc, self.log = start_server(self.folder, port, "--forwarded-allow-ips", "127.0.0.1")
        self.base = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        from .test_serve import stop

        if self.proc.poll() is None:
            stop(self.proc)
        self.llm.__exit__(*exc)
        self.smtp.__exit__(*exc)


def db(folder: Path):
    import sqlite3

    return sqlite3.connect(folder / "fsl.db")


def login(base: str, name: str, address: str, password: str = PASSWORD):
    """An httpx client logged in as `name` from `address` (X-Forwarded-For); asserts it worked."""
    import httpx

    client = httpx.Client(base_url=base, headers={"X-Forwarded-For": address})
    answer = client.post("/login", data={"username": name, "password": password,
                                         "csrf_token": csrf(client, "/login")})
    assert answer.status_code == 303 and answer.headers["location"] == "/tasks", answer.text
    return client


def csrf(client, path: str) -> str:
    """The csrf_token of the first form of the page at `path`."""
    import re

    page = client.get(path)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)
