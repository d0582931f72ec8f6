"""`renderer: llm` sends in production: written by the configured model through
the guards, cached in the store's render cache, held for review (never sent,
never failed) when the model's answer does not pass."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from fsl.store.schema import actions, journal, render_cache

from .llm_server import GOOD_SUBJECT, FakeLLMServer, Reply
from .test_ops_support import SmtpServer, at, cli, make_project, populate, runtime

NOTE = """\
---
subject: "Notes for {{ contact.first_name }}"
renderer: llm
max_words: 120
---
Write a short, friendly note to {{ contact.first_name }} about getting started.
"""

PLAYBOOK = """\
playbook noted:
    enroll on signed_up
    stop on unsubscribed
    step note:
        send email "note"
"""


def test_llm_messages_are_written_guarded_cached_or_held(tmp_path: Path) -> None:
    with SmtpServer() as smtp, FakeLLMServer() as llm:
        config = make_project(tmp_path, port=smtp.port, playbooks={"noted": PLAYBOOK})
        (tmp_path / "templates" / "note.md").write_text(NOTE)
        text = config.read_text() + f'llm: {{base_url: "{llm.base_url}", model: fake, api_key: k}}\n'
        config.write_text(text)
        populate(config, 2)
        llm.queue(Reply.good(), Reply.breaking("emails"), Reply.breaking("emails"), Reply.breaking("emails"))
        result = cli("tick", "--now", at(), "--format", "json", cwd=tmp_path)
        report = json.loads(result.stdout)
        assert result.exit_code == 0 and report["delivered"] == 1 and report["failed"] == 0
        assert [a["subject"] for a in smtp.sink.arrivals] == [GOOD_SUBJECT]
    rt = runtime(config)
    with rt.db.read() as conn:
        cached = conn.execute(sa.select(sa.func.count()).select_from(render_cache)).scalar()
        statuses = sorted(conn.execute(sa.select(actions.c.status)).scalars())
        renders = [json.loads(r) for r in conn.execute(sa.select(journal.c.reason)
                                                      .where(journal.c.kind == "llm_render")).scalars()]
    rt.close()
    assert cached == 1 and statuses == ["delivered", "held"]
    assert sorted(r["status"] for r in renders) == ["held", "ok"]  # every render journaled, ok ones too


def test_without_a_model_llm_templates_fail_clearly(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port, playbooks={"noted": PLAYBOOK})
        (tmp_path / "templates" / "note.md").write_text(NOTE)
        config.write_text(config.read_text() + 'llm: {base_url: "http://127.0.0.1:9/v1", model: m, api_key: k}\n')
        populate(config, 1)
        config.write_text(config.read_text().rsplit("llm:", 1)[0])  # the endpoint went away
        report = json.loads(cli("tick", "--now", at(), "--format", "json", cwd=tmp_path).stdout)
        assert report["failed"] == 1 and "no llm endpoint" in report["failures"][0]["error"]
        assert smtp.sink.arrivals == []
