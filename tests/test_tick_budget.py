"""A hostile template in a real `fsl tick`: its message fails alone, the others
go out, SIGTERM is honoured between messages, and a message whose ticks keep
dying is given up after its channel's max_attempts."""
from __future__ import annotations

import re

import json
import signal
import time
from pathlib import Path

import sqlalchemy as sa

from .test_ops_support import T0, at, fsl_process, make_project, populate, runtime

# c0001's message loops for ever without a budget; everyone else's is plain.
HOSTILE = """\
---
subject: "Hello {{ contact.first_name }}"
---
{% if contact.first_name == "User1" %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}
Hi {{ contact.first_name }}.
"""
# Everyone's message spends its loop budget item by item (a tenth of a second or so each):
# 400 of them keep the tick rendering long enough to be stopped half-way.
SLOW = """\
---
subject: "Hello"
---
{% for i in range(100000)|map('string') %}{% for j in range(100000)|map('string') %}{% endfor %}{% endfor %}
"""


def _project(tmp_path: Path, hello: str) -> Path:
    config = make_project(tmp_path)
    # a log channel: the messages stay in the store (its settings are only `retry`)
    text = re.sub(r"adapter: smtp, host: [^,]+, port: \d+, from: \"[^\"]*\", timeout: \d+,", "adapter: log,",
                  config.read_text())
    config.write_text(text)
    (tmp_path / "templates" / "hello.md").write_text(hello)
    return config


def _statuses(config: Path) -> dict[str, tuple[str, int, str | None]]:
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            rows = conn.execute(sa.text("SELECT contact, status, attempts, last_error FROM actions "
                                        "WHERE template = 'hello'")).all()
    finally:
        rt.close()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _wait(proc, seconds: float = 300) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=seconds)  # generous: without a budget it never ends
    except Exception:
        proc.kill()
        proc.communicate()
        raise


def test_a_template_over_budget_fails_its_message_alone(tmp_path: Path) -> None:
    config = _project(tmp_path, HOSTILE)
    populate(config, 5)
    proc = fsl_process("tick", "--now", at(), "--format", "json", cwd=tmp_path)
    out, err = _wait(proc)
    assert proc.returncode in (0, 1), err
    rows = _statuses(config)
    status, attempts, error = rows.pop("c0001")
    assert (status, attempts) == ("failed", 1) and "loops more than" in error
    assert {s for s, _, _ in rows.values()} == {"delivered"} and len(rows) == 4


def test_sigterm_during_slow_renders_stops_between_messages(tmp_path: Path) -> None:
    config = _project(tmp_path, SLOW)
    populate(config, 400)
    proc = fsl_process("tick", "--now", at(), "--format", "json", cwd=tmp_path)
    rt = runtime(config)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            with rt.db.read() as conn:  # claimed for hand-over: the renders are under way
                if conn.execute(sa.text("SELECT count(*) FROM actions WHERE status = 'sending'")).scalar():
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = _wait(proc)
    finally:
        rt.close()
    assert proc.returncode in (0, 1), err
    assert json.loads(out)["interrupted"] is True
    rows = _statuses(config)
    counts = {s: sum(1 for v in rows.values() if v[0] == s) for s in ("failed", "pending", "sending")}
    assert counts["sending"] == 0  # nothing held
    assert counts["pending"] > 0 and counts["failed"] + counts["pending"] == 400
    assert all(a == 0 for s, a, _ in rows.values() if s == "pending")  # the attempt it never had is undone


def test_a_message_whose_ticks_keep_dying_is_given_up_after_max_attempts(tmp_path: Path) -> None:
    from fsl.runtime.claims import recover

    config = _project(tmp_path, HOSTILE.replace("User1", "nobody"))
    populate(config, 2)
    rt = runtime(config)
    try:
        rt.tick(T0, deliver=False)
        with rt.db.write() as conn:  # both claimed by ticks that died: c0001 on its last attempt (3)
            conn.execute(sa.text("UPDATE actions SET status = 'sending', claimed_by = 'elsewhere:1:1:x', "
                                 "lease_until = 0, attempts = CASE contact WHEN 'c0001' THEN 3 ELSE 1 END"))
        assert recover(rt) == 2
    finally:
        rt.close()
    rows = _statuses(config)
    assert rows["c0001"][0] == "failed" and "max_attempts" in rows["c0001"][2]
    assert rows["c0002"][0] == "pending"
