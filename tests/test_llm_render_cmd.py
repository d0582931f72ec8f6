"""`fsl render PLAYBOOK STEP --contact ID`: the engine's evaluation of the step's
branches for one contact, each send rendered (template or model) with every
guard's verdict, and nothing written to the store but the render cache."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from fsl.store.schema import metadata

from .llm_server import FakeLLMServer, Reply
from .test_ops_support import cli, make_project, populate, runtime

PLAYBOOK = """\
playbook preview:
    enroll on signed_up
    stop on unsubscribed
    step intro:
        if contact.first_name == "User1":
            send email "hello"
        else:
            send email "pushy"
        send email "note"
"""
PUSHY = """\
---
subject: "Quick one, {{ contact.first_name }}"
max_words: 5
avoid: ["just checking in"]
---
Hi {{ contact.first_name }}, just checking in about the thing we discussed last week.
"""
NOTE = """\
---
subject: "Notes for {{ contact.first_name }}"
renderer: llm
---
Write a short note to {{ contact.first_name }} about getting started.
"""


def _project(tmp_path: Path, llm_url: str) -> Path:
    config = make_project(tmp_path, playbooks={"preview": PLAYBOOK})
    (tmp_path / "templates" / "pushy.md").write_text(PUSHY)
    (tmp_path / "templates" / "note.md").write_text(NOTE)
    config.write_text(config.read_text() + f'llm: {{base_url: "{llm_url}", model: fake, api_key: k, timeout: 2}}\n')
    populate(config, 2)
    return config


def _counts(config: Path) -> dict[str, int]:
    rt = runtime(config)
    with rt.db.read() as conn:
        out = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
               for t in metadata.sorted_tables}
    rt.close()
    return out


def test_render_evaluates_the_branches_and_shows_every_verdict(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        config = _project(tmp_path, llm.base_url)
        before = _counts(config)
        result = cli("render", "preview", "intro", "--contact", "c0001", "--format", "json", cwd=tmp_path)
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["branches"] == ["if at line 5 holds"]
        hello, note = data["messages"]
        assert (hello["template"], hello["renderer"], hello["status"]) == ("hello", "template", "ok")
        assert hello["subject"] == "Hello User1" and hello["to"] == "user1@example.com"
        assert {v["guard"] for v in hello["verdicts"]} >= {"max_words", "avoid", "links"}
        assert (note["renderer"], note["status"]) == ("llm", "ok") and all(v["passed"] for v in note["verdicts"])
        assert data["not_taken"] == [{"channel": "email", "template": "pushy", "line": 8,
                                      "branch": "else of the if at line 5"}]

        # the other branch: a template breaking its own rules is reported (exit 1), with reasons
        llm.queue(Reply.breaking("phones"), Reply.breaking("phones"), Reply.breaking("phones"))
        other = cli("render", "preview", "intro", "--contact", "c0002", cwd=tmp_path)
        assert other.exit_code == 1
        assert "else" in other.stdout and "FAIL max_words" in other.stdout and "FAIL avoid" in other.stdout
        assert "HELD" in other.stdout and "FAIL phones" in other.stdout
        after = _counts(config)
    assert {k: v for k, v in after.items() if k != "render_cache"} == \
           {k: v for k, v in before.items() if k != "render_cache"}  # nothing but the cache
    assert after["render_cache"] == before["render_cache"] + 1  # the accepted render, reused by a real send


def test_render_refuses_unknown_input(tmp_path: Path) -> None:
    config = _project(tmp_path, "http://127.0.0.1:9/v1")
    assert cli("render", "preview", "nope", "--contact", "c0001", cwd=tmp_path).exit_code == 2
    bad = cli("render", "nope", "intro", "--contact", "c0001", cwd=tmp_path)
    assert bad.exit_code == 2 and "no playbook named nope" in bad.stderr
    assert cli("render", "preview", "intro", "--contact", "zz", cwd=tmp_path).exit_code == 2
    assert cli("render", "preview", "intro", "--contact", "c0001", "--deal", "d9", cwd=tmp_path).exit_code == 2
    assert config.exists()
