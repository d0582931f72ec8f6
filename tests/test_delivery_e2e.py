"""Delivery through the real tick and outbox, to a loopback SMTP server and HTTP server."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from click.testing import CliRunner

from fsl.cli.main import main
from fsl.delivery import message_id

from .http_sink import HttpSink
from .smtp_sink import SmtpSink

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)

PLAYBOOK = """\
playbook hello:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed

    step recap:
        send email "recap"
        send sms "ping"
        task call "Call {{ contact.first_name }}"
"""


def project(tmp_path: Path, smtp_port: int, http_url: str) -> Path:
    (tmp_path / "fsl.yaml").write_text(f"""\
version: 1
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
events:
  meeting_ended: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: {smtp_port}, from: "Ana <ana@acme.example>", timeout: 5}}
  sms: {{adapter: webhook, url: "{http_url}/sms", timeout: 5}}
""")
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "hello.fsl").write_text(PLAYBOOK)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "recap.html").write_text(
        '---\nsubject: "Hi {{ contact.first_name }}"\n---\n<p>Hi {{ contact.first_name }}</p>\n')
    (tmp_path / "templates" / "ping.md").write_text("Hi {{ contact.first_name }}, see your email.\n")
    (tmp_path / "contacts.csv").write_text("id,email,phone,first_name\nc1,bea@x.example,+15550100,<Bea>\n")
    return tmp_path


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(root / "fsl.yaml")], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_tick_delivers_email_webhook_and_task_once(tmp_path):
    with SmtpSink() as smtp, HttpSink() as http:
        root = project(tmp_path, smtp.port, http.url)
        assert run(root, "deploy")[0] == 0
        assert run(root, "contacts", "import", str(root / "contacts.csv"))[0] == 0
        assert run(root, "event", "meeting_ended", "--contact", "c1", "--at", T0.isoformat())[0] == 0
        smtp.fail_next(1, 451)
        http.respond(503, headers={"Retry-After": "1"})
        code, out, err = run(root, "tick", "--now", T0.isoformat(), "--format", "json")
        assert code in (0, 1), err
        assert smtp.messages == [] and len(http.requests) == 1
        later = (T0 + timedelta(hours=2)).isoformat()
        code, out, err = run(root, "tick", "--now", later, "--format", "json")
        assert code == 0, err
        run(root, "tick", "--now", (T0 + timedelta(hours=3)).isoformat())
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ["bea@x.example"] and mail.message["Subject"] == "Hi <Bea>"
    key = mail.message["Message-ID"]
    assert key.endswith("@acme.example>")
    assert "&lt;Bea&gt;" in mail.message.get_body(("html",)).get_content()
    first, second = http.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert second.json["to"] == "+15550100" and second.json["text"] == "Hi <Bea>, see your email."
    assert message_id(second.json["key"].rsplit(":", 1)[0] + ":0", "acme.example") == key  # action 0 of the step
