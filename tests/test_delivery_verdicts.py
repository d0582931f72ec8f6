"""The mail server's verdict counts (issue 12, section 5), against a real
SMTP server on loopback:

* 5xx on RCPT or on DATA records `bounced` (kind hard), and `stop on bounced`
  ends the enrollment;
* 4xx is retried with backoff and records `deferred` with the server's reply
  as `reason`; when the retries run out, `bounced` (kind soft);
* the final reply to DATA (`250 Ok: queued as ...`) is kept with the message;
* `fsl status` shows pending retries with their last reason;
* `fsl outbox retry ID|--failed` re-queues failed messages with the same key,
  and the server receives exactly one copy.

Both delivery paths (in the tick, in a delivery process) and both stores.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from fsl.cli.main import main
from fsl.delivery import message_id

from .smtp_sink import SmtpSink
from .test_pg_support import pg_url  # noqa: F401 - the fixture

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=timezone.utc)

PLAYBOOK = """\
playbook hello:
    enroll on signed_up
    timezone "UTC"
    stop on bounced
    stop on unsubscribed

    step first:
        send email "hello"

    step second after 2 days:
        send email "hello"
"""

PEOPLE = {  # contact -> address; the sink is told how to answer each
    "c1": "nobody@x.example",  # 550 on RCPT
    "c2": "full@x.example",  # 552 on DATA
    "c3": "grey@x.example",  # 451 on RCPT twice, then accepted
    "c4": "down@x.example",  # 451 on RCPT forever
    "c5": "ok@x.example",  # accepted
}


def project(root: Path, port: int, store: str = "sqlite:///fsl.db", attempts: int = 3) -> Path:
    (root / "fsl.yaml").write_text(f"""\
version: 1
store: "{store}"
timezone: UTC
events:
  signed_up: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: {port}, from: "Ana <ana@acme.example>", timeout: 5,
           retry: {{max_attempts: {attempts}, base: 60, factor: 2, jitter: 0}}}}
""")
    (root / "sequences").mkdir()
    (root / "sequences" / "hello.fsl").write_text(PLAYBOOK)
    (root / "templates").mkdir()
    (root / "templates" / "hello.md").write_text('---\nsubject: "Hello"\n---\nHi there.\n')
    rows = "".join(f"{cid},{addr}\n" for cid, addr in PEOPLE.items())
    (root / "contacts.csv").write_text("id,email\n" + rows)
    return root


def run(root: Path, *args: str, env: dict | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(root / "fsl.yaml")], env=env,
                                catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def start(root: Path) -> None:
    assert run(root, "deploy")[0] == 0
    assert run(root, "contacts", "import", str(root / "contacts.csv"))[0] == 0
    for cid in PEOPLE:
        assert run(root, "event", "signed_up", "--contact", cid, "--at", T0.isoformat())[0] == 0


def tick(root: Path, minutes: float, env: dict | None = None) -> dict:
    code, out, err = run(root, "tick", "--now", (T0 + timedelta(minutes=minutes)).isoformat(), "--format", "json",
                         env=env)
    assert code in (0, 1), err
    return json.loads(out)


def store_rows(root: Path, table: str) -> list[dict]:
    from fsl.runtime.runtime import Runtime

    rt = Runtime.open(root / "fsl.yaml")
    try:
        with rt.db.read() as conn:
            return [dict(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")).mappings()]
    finally:
        rt.close()


def verdicts(root: Path) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list] = {}
    for e in store_rows(root, "events"):
        if e["type"] in ("bounced", "deferred"):
            fields = json.loads(e["fields"])
            assert fields.pop("source") == "smtp"
            out.setdefault(e["contact"], []).append((e["type"], fields, e["step"], e["enrollment"]))
    return out


def script(sink: SmtpSink) -> None:
    sink.answer(PEOPLE["c1"], "rcpt", "550 5.1.1 No such user")
    sink.answer(PEOPLE["c2"], "data", "552 5.2.2 Mailbox full")
    sink.answer(PEOPLE["c3"], "rcpt", "451 4.7.1 Greylisted, try again", times=2)
    sink.answer(PEOPLE["c4"], "rcpt", "451 4.3.0 Temporary failure")


def check_the_verdicts(root: Path, env: dict | None = None) -> SmtpSink:
    with SmtpSink() as sink:
        project(root, sink.port, **({} if env is None or "store" not in env else {"store": env.pop("store")}))
        script(sink)
        start(root)
        first = tick(root, 0, env)
        assert first["delivered"] == 1 and first["failed"] == 2 and first["retried"] == 2
        if env and env.get("FSL_DELIVERY") == "process":
            assert first["delivery_process"]["started"] and first["delivery_process"]["handed_over"] == 5
        # pending retries, with the server's reply, in `fsl status` (JSON and text)
        code, out, err = run(root, "status", "--format", "json", "--now", T0.isoformat())
        assert code == 0, err
        status = json.loads(out)
        assert status["pending_retries"] == 2
        retries = {r["contact"]: r for r in status["retries"]}
        assert set(retries) == {"c3", "c4"}
        assert "451 4.7.1 Greylisted, try again" in retries["c3"]["reason"]
        assert retries["c4"]["attempts"] == 1 and retries["c4"]["next_attempt"] == "2026-11-23T14:01:00Z"
        code, text, _ = run(root, "status")
        assert "pending retries: 2" in text and "451 4.3.0 Temporary failure" in text
        assert "hard bounce" in text and "550 5.1.1 No such user" in text
        tick(root, 1, env)  # second attempts: 451 again for both
        last = tick(root, 3, env)  # third: c3 accepted, c4 out of attempts
        assert last["delivered"] == 1 and last["failed"] == 1
        tick(root, 4, env)  # ingests what the last hand-overs recorded
    found = verdicts(root)
    actions = {a["contact"]: a for a in store_rows(root, "actions") if a["step"] == "first"}
    for cid in PEOPLE:
        assert all(step == "first" and en == actions[cid]["enrollment"] for _, _, step, en in found.get(cid, []))
    assert [(t, f) for t, f, _, _ in found["c1"]] == [("bounced", {"kind": "hard"})]
    assert [(t, f) for t, f, _, _ in found["c2"]] == [("bounced", {"kind": "hard"})]
    assert [(t, f) for t, f, _, _ in found["c3"]] == [("deferred", {"reason": "451 4.7.1 Greylisted, try again"})] * 2
    assert [(t, f) for t, f, _, _ in found["c4"]] == [
        ("deferred", {"reason": "451 4.3.0 Temporary failure"})] * 2 + [("bounced", {"kind": "soft"})]
    assert "c5" not in found
    assert {c: (a["status"], a["bounce"]) for c, a in actions.items()} == {
        "c1": ("failed", "hard"), "c2": ("failed", "hard"), "c3": ("delivered", None), "c4": ("failed", "soft"),
        "c5": ("delivered", None)}
    assert "552 5.2.2 Mailbox full" in actions["c2"]["last_error"]
    # the provider's reference: the server's final reply to DATA
    assert {actions[c]["provider_id"] for c in ("c3", "c5")} == {"250 Ok: queued as Q0001", "250 Ok: queued as Q0002"}
    ended = {e["contact"]: (e["status"], e["outcome"], e["reason"]) for e in store_rows(root, "enrollments")}
    for cid in ("c1", "c2", "c4"):
        assert ended[cid] == ("ended", "stopped", "stop on bounced")
    assert ended["c3"][0] != "ended" and ended["c5"][0] != "ended"
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [PEOPLE["c3"], PEOPLE["c5"]]
    return sink


def test_server_verdicts_record_bounces_and_deferrals(tmp_path: Path) -> None:
    check_the_verdicts(tmp_path)


def test_a_delivery_process_records_the_same_verdicts(tmp_path: Path) -> None:
    check_the_verdicts(tmp_path, {"FSL_DELIVERY": "process"})


def test_server_verdicts_on_postgresql(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    check_the_verdicts(tmp_path, {"store": pg_url})


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_session_failures_are_no_bounce_and_retry_requeues_once(tmp_path: Path, store: str, request) -> None:
    """The channel is down (nothing listens): retries run out, the messages
    fail without any bounce; after the fix `fsl outbox retry ID` and then
    `--failed` put them back, and each arrives exactly once, same key."""
    url = request.getfixturevalue("pg_url") if store == "postgresql" else "sqlite:///fsl.db"
    sink = SmtpSink()  # not started yet: its port refuses connections
    project(tmp_path, sink.port, store=url, attempts=2)
    start(tmp_path)
    tick(tmp_path, 0)
    assert tick(tmp_path, 2)["failed"] == 5
    assert verdicts(tmp_path) == {}  # our outage says nothing about the addresses
    failed = {a["contact"]: a for a in store_rows(tmp_path, "actions")}
    assert {a["status"] for a in failed.values()} == {"failed"}
    assert all(a["bounce"] is None and "gave up after 2 attempts" in a["last_error"] for a in failed.values())
    code, out, _ = run(tmp_path, "status", "--format", "json")
    assert {f["id"] for f in json.loads(out)["recent_failures"]} == {a["id"] for a in failed.values()}
    with sink:
        code, out, err = run(tmp_path, "outbox", "retry", str(failed["c5"]["id"]), "--now", T0.isoformat(),
                             "--format", "json")
        assert code == 0, err
        assert [r["key"] for r in json.loads(out)["requeued"]] == [failed["c5"]["key"]]
        assert tick(tmp_path, 5)["delivered"] == 1
        assert [m.rcpt_tos for m in sink.messages] == [[PEOPLE["c5"]]]
        # once delivered, naming it again re-queues nothing
        code, out, _ = run(tmp_path, "outbox", "retry", failed["c5"]["key"])
        assert code == 1 and "it is delivered, not failed" in out
        assert run(tmp_path, "outbox", "retry", "999999")[0] == 2
        code, out, err = run(tmp_path, "outbox", "retry", "--failed", "--format", "json")
        assert code == 0, err
        assert sorted(r["contact"] for r in json.loads(out)["requeued"]) == ["c1", "c2", "c3", "c4"]
        tick(tmp_path, 6)
        tick(tmp_path, 7)
        code, out, _ = run(tmp_path, "outbox", "retry", "--failed")
        assert code == 0 and "no failed messages" in out
    assert Counter(m.rcpt_tos[0] for m in sink.messages) == Counter(PEOPLE.values())
    by_id = Counter(m.message["Message-ID"] for m in sink.messages)
    assert set(by_id.values()) == {1}
    assert set(by_id) == {message_id(a["key"], "acme.example") for a in failed.values()}
    rows = {a["contact"]: a for a in store_rows(tmp_path, "actions") if a["step"] == "first"}
    assert all(rows[c]["key"] == failed[c]["key"] and rows[c]["status"] == "delivered" for c in PEOPLE)


def test_retry_leaves_stopped_enrollments_and_hard_bounces_alone(tmp_path: Path) -> None:
    with SmtpSink() as sink:
        project(tmp_path, sink.port, attempts=1)
        sink.answer(PEOPLE["c1"], "rcpt", "550 5.1.1 No such user")
        sink.answer(PEOPLE["c4"], "rcpt", "451 4.3.0 Temporary failure", times=1)
        start(tmp_path)
        tick(tmp_path, 0)
        tick(tmp_path, 1)  # ingests: c1 (hard) and c4 (soft: one attempt) end by `stop on bounced`
        code, out, _ = run(tmp_path, "outbox", "retry", "--failed", "--format", "json")
        assert code == 0 and json.loads(out)["requeued"] == []
        reasons = {r["contact"]: r["reason"] for r in json.loads(out)["skipped"]}
        assert set(reasons) == {"c1", "c4"} and all("enrollment ended" in r for r in reasons.values())
        code, out, _ = run(tmp_path, "outbox", "retry", reasons and str(json.loads(out)["skipped"][0]["id"]))
        assert code == 1 and "re-enroll instead" in out
        tick(tmp_path, 2)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == sorted(
        PEOPLE[c] for c in ("c2", "c3", "c5"))


def test_db_upgrade_adds_the_verdict_columns_to_a_version_5_store(tmp_path: Path) -> None:
    from fsl.store import SchemaTooOld, open_store
    from fsl.store.plans import set_meta

    url = f"sqlite:///{tmp_path}/fsl.db"
    db = open_store(url)
    with db.write() as conn:  # as release 5 left it: no verdict columns, one delivered row
        conn.exec_driver_sql("ALTER TABLE actions DROP COLUMN provider_id")
        conn.exec_driver_sql("ALTER TABLE actions DROP COLUMN bounce")
        conn.exec_driver_sql("INSERT INTO actions (key, enrollment, contact, playbook, step, kind, at, line, payload, "
                             "status, attempts) VALUES ('1:first:0:0', 1, 'c1', 'hello', 'first', 'send', 0, 0, '{}', "
                             "'delivered', 1)")
        set_meta(conn, "schema_version", "5")
    db.dispose()
    with pytest.raises(SchemaTooOld):
        open_store(url)
    project(tmp_path, 9)
    code, out, err = run(tmp_path, "db", "upgrade")
    assert code == 0, err
    (row,) = store_rows(tmp_path, "actions")
    assert row["status"] == "delivered" and row["provider_id"] is None and row["bounce"] is None


@pytest.mark.parametrize("phase, reply, status, bounce", [
    ("rcpt", "550 5.1.1 No such user", "failed", True),
    ("data", "554 5.7.1 Message rejected", "failed", True),
    ("rcpt", "452 4.2.2 Over quota", "retry", True),
    ("data", "451 4.3.0 Try later", "retry", True),
    ("data", "421 4.4.2 Closing connection", "retry", False),  # the session ends: nothing about the address
    ("mail", "553 5.7.1 Sender not allowed", "failed", False),  # our `from`, not the contact's address
])
def test_the_adapter_keeps_the_reply_only_for_a_verdict_on_the_recipient(phase, reply, status, bounce) -> None:
    from .test_channels_smtp import channel, message
    from fsl.delivery.channels import make_adapter

    with SmtpSink() as sink:
        sink.answer("ana@acme.example" if phase == "mail" else "bea@northwind.example", phase, reply)
        adapter = make_adapter(channel(sink.port))
        result = adapter.deliver(message())
        adapter.close()
    assert result.status == status and reply in result.detail
    assert result.reply == (reply if bounce else None)


def test_the_adapter_keeps_the_final_reply_to_data() -> None:
    from .test_channels_smtp import channel, message
    from fsl.delivery.channels import make_adapter

    with SmtpSink() as sink:
        adapter = make_adapter(channel(sink.port))
        first, second = adapter.deliver(message()), adapter.deliver(message(key="7:recap:0:2"))
        adapter.close()
    assert (first.reply, second.reply) == ("250 Ok: queued as Q0001", "250 Ok: queued as Q0002")


def test_explain_shows_the_bounce_and_the_event_fields_are_declared(tmp_path: Path) -> None:
    """`fsl explain` shows a message's bounce; `bounced` (kind) and `deferred`
    (reason) are built-in events that `fsl event` and playbooks may use."""
    with SmtpSink() as sink:
        project(tmp_path, sink.port)
        sink.answer(PEOPLE["c1"], "rcpt", "550 5.1.1 [no such user]")
        start(tmp_path)
        tick(tmp_path, 0)
    code, out, err = run(tmp_path, "explain", "c1")
    assert code == 0, err
    assert "failed, 1 attempt(s), hard bounce (recipient refused: 550 5.1.1 [no such user])" in out
    code, out, _ = run(tmp_path, "explain", "c1", "--format", "json")
    (en,) = json.loads(out)["enrollments"]
    assert en["messages"][0]["bounce"] == "hard" and en["outcome"] == "stopped"
    assert run(tmp_path, "event", "deferred", "--contact", "c5", "--data", "reason=451 later")[0] == 0
    assert run(tmp_path, "event", "bounced", "--contact", "c5", "--data", "kind=soft")[0] == 0
    assert run(tmp_path, "event", "bounced", "--contact", "c5", "--data", "kind=maybe")[0] == 2
    (tmp_path / "sequences" / "hello.fsl").write_text(PLAYBOOK.replace(
        "    stop on bounced\n", '    stop on bounced where event.kind == "hard"\n    pause on deferred for 1 day\n'))
    code, out, err = run(tmp_path, "check")
    assert code == 0, out + err
