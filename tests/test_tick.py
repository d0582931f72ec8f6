"""`fsl tick`, `fsl worker`, `fsl status`, `fsl explain`: good and bad inputs."""
from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from fsl.engine.model import Event
from fsl.store.schema import events

from .test_ops_support import T0, at, cli, fsl_process, make_project, populate, runtime


def test_tick_runs_what_is_due_and_nothing_more(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 5)
    before = json.loads(cli("tick", "--now", at(-1), "--no-deliver", "--format", "json", cwd=tmp_path).stdout)
    assert before["steps"] == 0 and before["events"] == 0  # the sign-ups are at T0
    first = json.loads(cli("tick", "--now", at(), "--no-deliver", "--format", "json", cwd=tmp_path).stdout)
    assert (first["events"], first["steps"], first["actions"]) == (5, 5, {"send": 5})
    again = json.loads(cli("tick", "--now", at(), "--no-deliver", "--format", "json", cwd=tmp_path).stdout)
    assert again["steps"] == 0 and again["instants"] == 0
    day = json.loads(cli("tick", "--now", at(days=1), "--no-deliver", "--format", "json", cwd=tmp_path).stdout)
    assert day["steps"] == 5 and day["actions"] == {"send": 5, "task": 5}
    text = cli("tick", "--now", at(days=1, minutes=1), "--no-deliver", cwd=tmp_path)
    assert text.exit_code == 0 and text.stdout.startswith("tick 2026-11-24T15:01:00Z: 0 instant(s)")


def test_a_tick_never_goes_back_in_time(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 2)
    cli("tick", "--now", at(days=2), "--no-deliver", cwd=tmp_path)
    rt = runtime(tmp_path / "fsl.yaml")
    # a late event (before the clock) is applied at the clock, keeping its own instant
    rt.record_events([Event(T0 + timedelta(hours=1), "replied", "c0001", None, "hello", {"kind": "human"})])
    rt.close()
    back = json.loads(cli("tick", "--now", at(), "--format", "json", cwd=tmp_path).stdout)
    assert back["events"] == 0  # --now before the clock: nothing happens
    late = json.loads(cli("tick", "--now", at(days=2, minutes=1), "--no-deliver", "--format", "json",
                          cwd=tmp_path).stdout)
    assert late["events"] == 1
    doc = json.loads(cli("explain", "c0001", "--format", "json", cwd=tmp_path).stdout)
    en = doc["enrollments"][0]
    assert en["outcome"] == "stopped" and en["ended_at"] == "2026-11-23T16:00:00Z"


def test_unknown_contacts_and_messages_are_kept_and_reported(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 1)
    rt = runtime(tmp_path / "fsl.yaml")
    rt.record_events([Event(T0, "opened", "ghost", None, "hello", {}),
                      Event(T0, "clicked", "c0001", None, "never_sent", {"link": "x"})])
    rt.close()
    report = json.loads(cli("tick", "--now", at(), "--no-deliver", "--format", "json", cwd=tmp_path).stdout)
    assert report["events"] == 3 and report["warnings"] == 2
    rt = runtime(tmp_path / "fsl.yaml")
    with rt.db.read() as conn:
        flags = dict(conn.execute(sa.select(events.c.contact, events.c.flag).where(events.c.flag.is_not(None))).all())
    rt.close()
    assert flags == {"ghost": "unknown_contact", "c0001": "unknown_message"}
    status = json.loads(cli("status", "--format", "json", cwd=tmp_path).stdout)
    assert status["unknown_events"] == {"unknown_contact": 1, "unknown_message": 1}
    text = cli("status", cwd=tmp_path).stdout
    assert "events kept but not understood" in text and "ghost" in text
    ghost = cli("explain", "ghost", cwd=tmp_path)
    assert ghost.exit_code == 2 and "unknown contact" in ghost.stderr


def test_status_counts_per_playbook(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 4)
    rt = runtime(tmp_path / "fsl.yaml")
    rt.record_events([Event(T0 + timedelta(hours=1), "replied", "c0001", None, "hello", {"kind": "human"})])
    rt.close()
    cli("tick", "--now", at(120), "--no-deliver", cwd=tmp_path)
    doc = json.loads(cli("status", "--format", "json", "--now", at(days=1), cwd=tmp_path).stdout)
    book = doc["playbooks"][0]
    assert book["playbook"] == "welcome" and book["active"] == 3 and book["ended"] == {"stopped": 1}
    assert book["due_now"] == 3 and book["outbox"]["pending"] == 3  # c0001's hello was cancelled
    assert doc["clock"] == at(120) and doc["last_tick"]["report"]["steps"] == 4
    text = cli("status", "--now", at(days=1), cwd=tmp_path)
    assert text.exit_code == 0 and "welcome" in text.stdout and "stopped 1" in text.stdout


def test_explain_shows_decisions_reasons_and_source_lines(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 1)
    cli("tick", "--now", at(days=1), "--no-deliver", cwd=tmp_path)
    doc = json.loads(cli("explain", "c0001", "--playbook", "welcome", "--format", "json", cwd=tmp_path).stdout)
    journal = doc["enrollments"][0]["journal"]
    kinds = [j["kind"] for j in journal]
    assert kinds[:2] == ["enrolled", "executed"] and "action" in kinds
    executed = next(j for j in journal if j["kind"] == "executed")
    assert executed["source"] == {"file": "sequences/welcome.fsl", "line": 8, "text": "step hello:"}
    text = cli("explain", "c0001", cwd=tmp_path)
    assert text.exit_code == 0 and "welcome.fsl:8" in text.stdout and "step hello:" in text.stdout
    none = cli("explain", "c0001", "--playbook", "other", cwd=tmp_path)
    assert none.exit_code == 0 and "never been enrolled in other" in none.stdout


def test_tick_bad_inputs(tmp_path: Path) -> None:
    make_project(tmp_path)
    bad = cli("tick", "--now", "soon", cwd=tmp_path)
    assert bad.exit_code == 2 and "--now" in bad.stderr
    assert cli("tick", "--bogus", cwd=tmp_path).exit_code == 2
    nowhere = cli("tick", cwd=tmp_path.parent)
    assert nowhere.exit_code == 2 and "no fsl.yaml" in nowhere.stderr
    missing = cli("tick", "--config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert missing.exit_code == 2
    (tmp_path / "broken.yaml").write_text("version: 2\n")
    broken = cli("tick", "--config", str(tmp_path / "broken.yaml"), cwd=tmp_path)
    assert broken.exit_code == 2 and "errors" in broken.stderr
    other = cli("tick", cwd=tmp_path, env={"FSL_STORE": "mysql://x@y/z"})
    assert other.exit_code == 2 and "unsupported store" in other.stderr


def test_fsl_store_overrides_the_config(tmp_path: Path) -> None:
    make_project(tmp_path)
    target = tmp_path / "elsewhere" / "store.db"
    result = cli("deploy", cwd=tmp_path, env={"FSL_STORE": f"sqlite:///{target}"})
    assert result.exit_code == 0 and target.exists() and not (tmp_path / "fsl.db").exists()


def test_worker_ticks_on_schedule_and_stops_on_sigterm(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 3, at=T0 - timedelta(days=30))
    proc = fsl_process("worker", "--run-now", "--schedule", "*/5 * * * *", cwd=tmp_path)
    deadline = time.monotonic() + 20
    rt = runtime(tmp_path / "fsl.yaml")
    try:
        while time.monotonic() < deadline:  # wait for the first tick to be logged
            with rt.db.read() as conn:
                done = conn.execute(sa.text("SELECT count(*) FROM ticks WHERE finished_at IS NOT NULL")).scalar()
            if done:
                break
            time.sleep(0.1)
    finally:
        rt.close()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "worker: tick" in out and "stopped after 1 tick(s)" in err
    bad = cli("worker", "--schedule", "every minute", cwd=tmp_path)
    assert bad.exit_code == 2 and "cron" in bad.stderr


def test_sigterm_finishes_the_current_batch(tmp_path: Path) -> None:
    """A tick asked to stop ends after a whole batch: every enrollment is either
    untouched or fully processed (step recorded, wake-up moved), none half-way."""
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 3000)
    proc = fsl_process("tick", "--now", at(), "--no-deliver", "--batch", "20", "--format", "json", cwd=tmp_path)
    rt = runtime(tmp_path / "fsl.yaml")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with rt.db.read() as conn:
                if conn.execute(sa.text("SELECT count(*) FROM actions")).scalar():
                    break
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        report = json.loads(out)
        with rt.db.read() as conn:
            executed = conn.execute(sa.text("SELECT count(*) FROM journal WHERE kind = 'executed'")).scalar()
            sent = conn.execute(sa.text("SELECT count(*) FROM actions")).scalar()
            moved = conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE wake_at > :t"),
                                 {"t": int(T0.timestamp())}).scalar()
    finally:
        rt.close()
    if report["interrupted"]:
        assert report["steps"] < 3000
    assert executed == sent == moved == report["steps"]
    follow = json.loads(cli("tick", "--now", at(), "--no-deliver", "--format", "json", cwd=tmp_path).stdout)
    assert follow["steps"] + report["steps"] == 3000


def test_observe_commands_bad_inputs(tmp_path: Path) -> None:
    make_project(tmp_path)
    assert cli("status", "--now", "later", cwd=tmp_path).exit_code == 2
    assert cli("status", "--format", "xml", cwd=tmp_path).exit_code == 2
    assert cli("explain", cwd=tmp_path).exit_code == 2
    assert cli("tasks", "--due", "tomorrow", cwd=tmp_path).exit_code == 2
    assert cli("tasks", "done", cwd=tmp_path).exit_code == 2
    empty = cli("tasks", cwd=tmp_path)
    assert empty.exit_code == 0 and "no open tasks" in empty.stdout
    fresh = json.loads(cli("status", "--format", "json", cwd=tmp_path).stdout)
    assert fresh["playbooks"] == [] and fresh["clock"] is None
    for args in (["status"], ["explain", "x"], ["tasks"]):
        assert cli(*args, cwd=tmp_path.parent).exit_code == 2, args
