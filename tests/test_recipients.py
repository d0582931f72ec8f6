"""One contact, one address; a `to` that is none sends nothing (issue 12 section 8)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.cli.main import main
from fsl.delivery.address import BadAddress, one_address

from .smtp_sink import SmtpSink

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)
TWO = "victim@x.example, evil@attacker.example"

PLAYBOOK = """\
playbook hello:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed

    step recap:
        if contact.first_name == "Eve":
            set contact.email = "victim@x.example, evil@attacker.example"
        send email "recap"
        send email "escalate" to contact.manager
"""


def project(tmp_path: Path, smtp_port: int = 1) -> Path:
    (tmp_path / "fsl.yaml").write_text(f"""\
version: 1
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
    manager: string?
events:
  meeting_ended: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: {smtp_port}, from: "Ana <ana@acme.example>", timeout: 5}}
""")
    (tmp_path / "sequences").mkdir()
    (tmp_path / "sequences" / "hello.fsl").write_text(PLAYBOOK)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "recap.md").write_text('---\nsubject: "Hi"\n---\nHi {{ contact.first_name }}\n')
    (tmp_path / "templates" / "escalate.md").write_text('---\nsubject: "About"\n---\n{{ contact.first_name }}\n')
    return tmp_path


def run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(root / "fsl.yaml")], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("value", [TWO, "a@x.example; b@y.example", "team: a@x.example, b@y.example;",
                                   "<a@x.example> <b@y.example>", "a@x.example\r\nBcc: evil@attacker.example",
                                   "not an address", "a@", ""])
def test_one_address_refuses_anything_but_exactly_one(value):
    with pytest.raises(BadAddress):
        one_address(value)


@pytest.mark.parametrize("value", ["ana@x.example", "Ana Ruiz <ana@x.example>", '"Ruiz, Ana" <ana@x.example>'])
def test_one_address_gives_the_addr_spec(value):
    assert one_address(value) == "ana@x.example"


def test_contacts_import_refuses_a_field_with_two_addresses(tmp_path):
    root = project(tmp_path)
    (root / "c.csv").write_text(f'id,email,first_name\nc1,a@x.example,Ana\nc2,"{TWO}",Bo\n')
    code, out, _ = run(root, "contacts", "import", str(root / "c.csv"), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["created"] == 1
    (problem,) = doc["problems"]
    assert problem["line"] == 3 and "names 2 addresses" in problem["reason"]
    (root / "c.jsonl").write_text(json.dumps({"id": "c1", "email": TWO, "first_name": "Ana"}) + "\n")
    code, out, _ = run(root, "contacts", "import", str(root / "c.jsonl"), "--format", "json")
    assert code == 1 and [p["line"] for p in json.loads(out)["problems"]] == [1]


def test_an_update_event_cannot_give_a_contact_two_addresses(tmp_path):
    root = project(tmp_path)
    (root / "e.jsonl").write_text(json.dumps({"at": T0.isoformat(), "type": "update", "contact": "c1",
                                              "set": {"email": TWO}}) + "\n")
    code, out, _ = run(root, "events", "import", str(root / "e.jsonl"), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["recorded"] == 0 and "set.email" in doc["problems"][0]["reason"]
    code, _, err = run(root, "event", "update", "--contact", "c1", "--data", f"email={TWO}")
    assert code == 2 and "names 2 addresses" in err


def test_a_stored_field_with_two_addresses_sends_nothing_and_says_why(tmp_path):
    """The playbook itself writes two addresses (as a value stored before the check could):
    delivery refuses it, and the SMTP server receives nothing for that contact."""
    with SmtpSink() as smtp:
        root = project(tmp_path, smtp.port)
        (root / "c.csv").write_text("id,email,first_name,manager\nc1,eve@x.example,Eve,boss@x.example\n")
        assert run(root, "deploy")[0] == 0
        assert run(root, "contacts", "import", str(root / "c.csv"))[0] == 0
        assert run(root, "event", "meeting_ended", "--contact", "c1", "--at", T0.isoformat())[0] == 0
        run(root, "tick", "--now", T0.isoformat())
        code, out, _ = run(root, "status", "--now", T0.isoformat(), "--format", "json")
    assert [m.rcpt_tos for m in smtp.messages] == [["boss@x.example"]]  # the manager's own message only
    (failure,) = json.loads(out)["recent_failures"]
    assert "names 2 addresses" in failure["error"] and "nothing is sent" in failure["error"]


def test_to_none_skips_the_send_with_a_journal_warning_never_the_contact(tmp_path):
    with SmtpSink() as smtp:
        root = project(tmp_path, smtp.port)
        (root / "c.csv").write_text("id,email,first_name,manager\nc1,ana@x.example,Ana,\n"
                                    "c2,bo@x.example,Bo,boss@x.example\n")
        assert run(root, "deploy")[0] == 0
        assert run(root, "contacts", "import", str(root / "c.csv"))[0] == 0
        for cid in ("c1", "c2"):
            assert run(root, "event", "meeting_ended", "--contact", cid, "--at", T0.isoformat())[0] == 0
        run(root, "tick", "--now", T0.isoformat())
        code, out, _ = run(root, "status", "--now", T0.isoformat(), "--format", "json")
        _, text, _ = run(root, "status", "--now", T0.isoformat())
        _, explained, _ = run(root, "explain", "c1")
    got = sorted((m.rcpt_tos[0], m.message["Subject"]) for m in smtp.messages)
    assert got == [("ana@x.example", "Hi"), ("bo@x.example", "Hi"), ("boss@x.example", "About")]
    (warning,) = json.loads(out)["recent_warnings"]
    assert warning["contact"] == "c1" and warning["playbook"] == "hello" and warning["line"] == 10
    assert "`to` is none" in warning["reason"]
    assert "recent warnings:" in text and "`to` is none" in text
    assert "`to` is none" in explained
