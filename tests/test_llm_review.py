"""The review queue on its own: schema migration 2, outage backoff ending in a
hold, a stop rule after the hold, editing in $EDITOR."""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from fsl.llm import review as R
from fsl.store import SchemaTooOld, open_store, schema_version
from fsl.store.migrations import current_version
from fsl.store.plans import set_meta
from fsl.store.schema import actions, reviews

from .llm_server import FakeLLMServer, Reply
from .test_ops_support import T0, at, cli, make_project, populate, runtime

NOTE = """\
---
subject: "Notes for {{ contact.first_name }}"
renderer: llm
---
Write a short note to {{ contact.first_name }} about getting started.
"""
PLAYBOOK = """\
playbook noted:
    enroll on signed_up
    stop on unsubscribed
    step note:
        send email "note"
"""


def _project(tmp_path: Path, url: str, n: int = 1) -> Path:
    config = make_project(tmp_path, playbooks={"noted": PLAYBOOK})
    (tmp_path / "templates" / "note.md").write_text(NOTE)
    text = re.sub(r"(?ms)^  email: \{adapter: smtp.*?\}\}\n", "  email: {adapter: task}\n", config.read_text())
    assert "adapter: task" in text  # a task channel takes no smtp settings (host, from, ...)
    config.write_text(text + f'llm: {{base_url: "{url}", model: fake, api_key: k, timeout: 1, max_retries: 0}}\n')
    populate(config, n)
    return config


def _one(config: Path) -> tuple[dict, dict]:
    rt = runtime(config)
    with rt.db.read() as conn:
        review = dict(conn.execute(sa.select(reviews)).mappings().one())
        action = dict(conn.execute(sa.select(actions)).mappings().one())
    rt.close()
    return review, action


def test_migration_2_adds_the_review_queue_to_a_version_1_store(tmp_path: Path) -> None:
    make_project(tmp_path)
    url = f"sqlite:///{tmp_path}/fsl.db"
    db = open_store(url)
    with db.write() as conn:
        conn.exec_driver_sql("DROP TABLE reviews")
        set_meta(conn, "schema_version", "1")
    db.dispose()
    with pytest.raises(SchemaTooOld):
        open_store(url)
    result = cli("db", "upgrade", "--format", "json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert result.exit_code == 0 and data["after"] == schema_version()
    assert [m["version"] for m in data["migrations"]][0] == 2  # later migrations (3: scale-out) may follow
    db = open_store(url)
    with db.read() as conn:
        assert current_version(conn) == schema_version() >= 2
        assert sa.inspect(conn).has_table("reviews")
    db.dispose()


def test_outages_back_off_then_wait_for_a_person(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(R, "MAX_AUTO_ASKS", 3)
    with FakeLLMServer() as llm:
        llm.responder = lambda request: Reply.error(503)
        config = _project(tmp_path, llm.base_url)
        asked = []
        for minute in (0, 0.5, 2, 5, 30, 120):  # 0.5: before the first backoff ran out
            cli("tick", "--now", at(minutes=minute), cwd=tmp_path)
            review, action = _one(config)
            asked.append((review["asks"], action["status"]))
        assert asked == [(1, "pending"), (1, "pending"), (2, "pending"), (3, "held"), (3, "held"), (3, "held")]
        assert review["retry_at"] is None and llm.count == 3
        listed = json.loads(cli("review", "--format", "json", cwd=tmp_path).stdout)
        assert listed[0]["cause"] == "model_unavailable" and "503" in listed[0]["reasons"][0]
        llm.responder = None  # back: good answers
        assert cli("review", "retry", str(review["id"]), cwd=tmp_path).exit_code == 0
        report = json.loads(cli("tick", "--now", at(minutes=121), "--format", "json", cwd=tmp_path).stdout)
        assert report["delivered"] == 1
        review, action = _one(config)
        assert (review["status"], action["status"], llm.count) == ("released", "delivered", 4)  # cached render


def test_a_stop_after_the_hold_blocks_approval(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        llm.responder = lambda request: Reply.breaking("offer")
        config = _project(tmp_path, llm.base_url)
        report = json.loads(cli("tick", "--now", at(), "--format", "json", cwd=tmp_path).stdout)
        assert (report["held"], report["delivered"], report["failed"]) == (1, 0, 0)
        shown = cli("tick", "--now", at(minutes=1), cwd=tmp_path).stdout
        assert "held" not in shown  # nothing new held by that tick
        review, _ = _one(config)
        assert review["status"] == "held"
        assert cli("event", "unsubscribed", "--contact", "c0001", "--at", at(minutes=5), cwd=tmp_path).exit_code == 0
        cli("tick", "--now", at(minutes=10), cwd=tmp_path)
        refused = cli("review", "approve", str(review["id"]), cwd=tmp_path)
        assert refused.exit_code == 1 and "`unsubscribed` event since" in refused.stderr
        assert cli("review", "reject", str(review["id"]), cwd=tmp_path).exit_code == 0
        assert _one(config)[1]["status"] == "rejected"


def test_edit_opens_the_editor_checks_the_guards_and_approves(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        llm.responder = lambda request: Reply.breaking("emails")
        config = _project(tmp_path, llm.base_url)
        cli("tick", "--now", at(), cwd=tmp_path)
        review, _ = _one(config)
        editor = tmp_path / "editor.sh"
        editor.write_text("#!/bin/sh\nprintf 'Subject: Fixed for you\\n\\nHi User1, all set. Ana\\n' > \"$1\"\n")
        editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
        result = cli("review", "edit", str(review["id"]), cwd=tmp_path, env={"EDITOR": str(editor), "VISUAL": ""})
        assert result.exit_code == 0, result.output
        assert "ok   emails" in result.stdout
        review, action = _one(config)
        assert (review["status"], review["subject"], review["body"]) == ("approved", "Fixed for you", "Hi User1, all set. Ana")
        assert action["status"] == "pending"
        report = json.loads(cli("tick", "--now", at(minutes=1), "--format", "json", cwd=tmp_path).stdout)
        assert report["delivered"] == 1
        rt = runtime(config)
        with rt.db.read() as conn:
            task = conn.execute(sa.text("SELECT subject, text FROM tasks")).one()
        rt.close()
        assert tuple(task) == ("Fixed for you", "Hi User1, all set. Ana")
    assert os.path.exists(config) and T0
