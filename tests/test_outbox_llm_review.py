"""End to end through the production tick: a `renderer: llm` playbook deployed to
a SQLite store, a real OpenAI-compatible server on loopback misbehaving in
every way, a real SMTP server on loopback.  Every message ends delivered or
held as specified; nothing unsafe reaches SMTP; the review queue releases
approved and edited texts through the outbox with their own Message-ID."""
from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.message import message_id
from fsl.llm.guards import GuardSettings, check
from fsl.store.schema import actions, journal, reviews

from .llm_server import FakeLLMServer, Reply
from .smtp_sink import SmtpSink
from .test_ops_support import at, cli, make_project, populate, runtime

SECRET = "sk-test-SECRET-4242"
GUIDE = "https://acme.example/guide"
NOTE = f"""\
---
subject: "Notes for {{{{ contact.first_name }}}}"
renderer: llm
max_words: 120
avoid: ["just checking in"]
links: {{guide: "{GUIDE}"}}
---
Write a short, friendly note to {{{{ contact.first_name }}}} about getting started.
"""
PLAYBOOK = """\
playbook noted:
    enroll on signed_up
    stop on unsubscribed
    step note:
        send email "note"
"""
GUARDS = ["subject", "body", "max_words", "avoid", "offer", "emails", "phones", "links_missing", "links_extra"]
# contact number -> behaviour: 1 good, 2..10 one guard broken on every ask, 11 non-JSON,
# 12 HTTP 500, 13 HTTP 429, 14 stalls past the timeout, 15 breaks a guard once then
# answers well (the re-ask), 16 answers 401 and echoes the Authorization header
BEHAVIOUR: dict[int, str] = {1: "good", **{i + 2: g for i, g in enumerate(GUARDS)}, 11: "nonjson", 12: "500",
                             13: "429", 14: "stall", 15: "reask", 16: "401"}
N = len(BEHAVIOUR)
_NAME = re.compile(r"note to User(\d+) about")


class Script:
    """The fake model's behaviour per contact (read from the prompt), switchable to good."""

    def __init__(self) -> None:
        self.recovered: set[int] = set()
        self.calls: dict[int, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request: dict) -> Reply:
        n = int(_NAME.search(request["messages"][1]["content"]).group(1))
        with self.lock:
            self.calls[n] = self.calls.get(n, 0) + 1
            first = self.calls[n] == 1
        how = "good" if n in self.recovered else BEHAVIOUR[n]
        if how in GUARDS:
            return Reply.breaking(how)
        return {"good": Reply.good(), "nonjson": Reply.raw("Sure! Here is a lovely note for you."),
                "500": Reply.error(500), "429": Reply.error(429, {"Retry-After": "0"}),
                "stall": Reply.stall(3.0), "reask": Reply.breaking("offer") if first else Reply.good(),
                "401": Reply.error(401, echo_auth=True)}[how]


def _project(tmp_path: Path, smtp_port: int, llm_url: str) -> Path:
    config = make_project(tmp_path, port=smtp_port, playbooks={"noted": PLAYBOOK})
    (tmp_path / "templates" / "note.md").write_text(NOTE)
    config.write_text(config.read_text() + f'llm: {{base_url: "{llm_url}", model: fake, api_key: "{SECRET}", '
                                            'timeout: 0.5, max_retries: 1}\n')
    populate(config, N)
    return config


def _safe(received, contact_email: str) -> bool:
    settings = GuardSettings(max_words=120, avoid=("just checking in",), allowed_emails=(contact_email,
                             "hello@acme.example"), links={"guide": GUIDE})

    class D:
        subject = received.message["Subject"]
        body = received.message.get_body(("plain",)).get_content()

    return all(v.passed for v in check(D, settings))


def _reviews(tmp_path: Path) -> dict[str, dict]:
    result = cli("review", "--format", "json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    return {r["contact"]: r for r in json.loads(result.stdout)}


def _cid(n: int) -> str:
    return f"c{n:04d}"


def test_every_misbehaviour_ends_delivered_or_held_and_review_releases_through_the_outbox(tmp_path: Path) -> None:
    script = Script()
    with SmtpSink() as sink, FakeLLMServer() as llm:
        llm.responder = script
        config = _project(tmp_path, sink.port, llm.base_url)

        first = cli("tick", "--now", at(), "--format", "json", cwd=tmp_path)
        report = json.loads(first.stdout)
        assert first.exit_code == 0, first.stderr
        assert report["delivered"] == 2 and report["failed"] == 0  # the good one and the re-asked one
        got = {m.rcpt_tos[0]: m for m in sink.messages}
        assert sorted(got) == ["user15@example.com", "user1@example.com"]
        assert all(_safe(m, to) for to, m in got.items())

        held = _reviews(tmp_path)
        assert sorted(held) == sorted(_cid(n) for n in range(2, 15)) + [_cid(16)]
        for n, guard in ((i + 2, g) for i, g in enumerate(GUARDS)):
            r = held[_cid(n)]
            expect = "links" if guard.startswith("links") else guard
            assert r["cause"] == "guards" and r["action_status"] == "held", r
            assert any(reason.startswith(expect + ":") for reason in r["reasons"]), (guard, r["reasons"])
            assert r["step"] == "note" and r["playbook"] == "noted"
            assert script.calls[n] == 3  # asked, then asked again twice with the reasons
        assert held[_cid(11)]["cause"] == "guards" and held[_cid(11)]["reasons"][0].startswith("format:")
        for n in (12, 13, 14, 16):
            r = held[_cid(n)]
            assert r["cause"] == "model_unavailable" and r["action_status"] == "pending" and r["retry_at"], r
            assert r["reasons"][0].startswith("model:")

        # the journal has every render's verdicts, ok ones included, with enrollment and step
        rt = runtime(config)
        with rt.db.read() as conn:
            rows = conn.execute(sa.select(journal).where(journal.c.kind == "llm_render")).mappings().all()
            everything = json.dumps([dict(r) for r in conn.execute(sa.select(journal)).mappings()]) + json.dumps(
                [dict(r) for r in conn.execute(sa.select(reviews)).mappings()], default=str)
        rt.close()
        assert len(rows) == N and all(r["step"] == "note" and r["enrollment"] for r in rows)
        assert sorted(json.loads(r["reason"])["status"] for r in rows).count("ok") == 2
        assert SECRET not in everything and SECRET not in first.stdout + first.stderr
        listing = cli("review", cwd=tmp_path)
        assert SECRET not in listing.stdout + listing.stderr and "c0012" in listing.stdout

        # each prompt holds only its own contact's data
        for request in llm.requests:
            text = json.dumps(request["messages"][:2])
            assert len(set(re.findall(r"User\d+", text))) == 1
            assert len(set(re.findall(r"user\d+@example\.com", text))) <= 1

        # decisions: approve as is, edit (guards re-run), refuse a bad edit, reject, retry
        ids = {c: r["id"] for c, r in held.items()}
        assert cli("review", "approve", str(ids[_cid(12)]), cwd=tmp_path).exit_code == 1  # no draft to approve
        assert cli("review", "approve", str(ids[_cid(9)]), "--note", "the link is fine", cwd=tmp_path).exit_code == 0
        edited = cli("review", "edit", str(ids[_cid(7)]), "--body", f"Hi User7, the guide: {GUIDE} Best, Ana",
                     "--format", "json", cwd=tmp_path)
        assert edited.exit_code == 0, edited.output
        assert all(v["passed"] for v in json.loads(edited.stdout)["verdicts"])
        bad = cli("review", "edit", str(ids[_cid(8)]), "--body", f"Call +1 415 555 0199. {GUIDE}", cwd=tmp_path)
        assert bad.exit_code == 1 and "FAIL phones" in bad.stderr
        assert cli("review", "reject", str(ids[_cid(5)]), "--note", "off tone", cwd=tmp_path).exit_code == 0
        assert cli("review", "reject", str(ids[_cid(5)]), cwd=tmp_path).exit_code == 1  # already decided
        assert cli("review", "approve", "999", cwd=tmp_path).exit_code == 1

        script.recovered |= {12, 13, 14}  # the model is back
        retried = cli("review", "retry", str(ids[_cid(14)]), cwd=tmp_path)
        assert retried.exit_code == 0, retried.output
        still = cli("review", "retry", str(ids[_cid(16)]), "--format", "json", cwd=tmp_path)
        assert still.exit_code == 1 and json.loads(still.stdout)["status"] == "held"
        assert SECRET not in still.stdout + still.stderr

        before = len(sink.messages)
        second = cli("tick", "--now", at(minutes=5), "--format", "json", cwd=tmp_path)
        assert second.exit_code == 0, second.stderr
        new = {m.rcpt_tos[0]: m for m in sink.messages[before:]}
        # approved (9), edited (7), retried by hand (14), asked again after the backoff (12, 13)
        assert sorted(new) == sorted(f"user{n}@example.com" for n in (7, 9, 12, 13, 14))
        assert new["user7@example.com"].message.get_body(("plain",)).get_content().startswith("Hi User7, the guide")
        assert all(_safe(m, to) for to, m in new.items() if to != "user9@example.com")  # 9: approved by a person

        third = cli("tick", "--now", at(minutes=30), "--format", "json", cwd=tmp_path)
        assert third.exit_code == 0 and json.loads(third.stdout)["delivered"] == 0

    ids_seen = [m.message["Message-ID"] for m in sink.messages]
    assert len(ids_seen) == len(set(ids_seen)) == 7  # each arrived once
    approved = next(m for m in sink.messages if m.rcpt_tos == ["user9@example.com"])
    rt = runtime(config)
    with rt.db.read() as conn:
        key, stored_id = conn.execute(sa.select(actions.c.key, actions.c.message_id)
                                      .where(actions.c.contact == _cid(9))).one()
        status = dict(conn.execute(sa.select(actions.c.contact, actions.c.status)).all())
        decided = dict(conn.execute(sa.select(reviews.c.contact, reviews.c.status)).all())
        kinds = list(conn.execute(sa.select(journal.c.kind).where(journal.c.kind.like("review_%"))).scalars())
    rt.close()
    assert approved.message["Message-ID"] == message_id(key, "acme.example") == stored_id  # the key's own id
    assert status[_cid(5)] == "rejected" and decided[_cid(5)] == "rejected"
    assert status[_cid(9)] == "delivered" and decided[_cid(9)] == "sent"
    assert decided[_cid(12)] == "released" and decided[_cid(14)] == "released"
    assert status[_cid(8)] == "held" and decided[_cid(8)] == "held"
    assert sorted(set(kinds)) == ["review_approved", "review_edited", "review_rejected", "review_retry"]
    left = _reviews(tmp_path)
    assert _cid(16) in left and _cid(5) not in left and _cid(9) not in left
