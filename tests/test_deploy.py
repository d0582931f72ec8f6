"""`fsl deploy`: plans by hash, running enrollments keep their plan, `--migrate` by step name."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from fsl.store.schema import checks, enrollments, plans

from .test_ops_support import T0, WELCOME, cli, contacts, make_project, runtime, signups

V2 = WELCOME.replace('''    step last after 2 days:
        send email "followup"
''', "").replace("step followup after 1 day:", "step followup after 2 days:")

WAITING = """\
playbook waiting:
    enroll on signed_up
    stop on unsubscribed
    step intro:
        send email "hello"
        wait 2 days
        send email "followup"
    step outro after 1 day:
        send email "followup"
"""


def _enrollments(config: Path) -> dict[str, dict]:
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            rows = conn.execute(sa.select(enrollments.c.contact, enrollments.c.plan_hash, enrollments.c.state,
                                          enrollments.c.status, enrollments.c.outcome)).mappings().all()
    finally:
        rt.close()
    return {r["contact"]: dict(r) for r in rows}


def _setup(tmp_path: Path) -> Path:
    """c0001 enrolled 1.5 days ago (now at step `last`), c0002 now (at `followup`)."""
    config = make_project(tmp_path)
    assert cli("deploy", cwd=tmp_path).exit_code == 0
    rt = runtime(config)
    try:
        rt.put_contacts(contacts(3), now=T0 - timedelta(days=2))
        rt.record_events(signups(["c0001"], T0 - timedelta(days=1, hours=12)))
        rt.tick(T0 - timedelta(days=1, hours=12), deliver=False)
        rt.tick(T0 - timedelta(hours=12), deliver=False)
        rt.record_events(signups(["c0002"], T0))
        rt.tick(T0, deliver=False)
    finally:
        rt.close()
    return config


def test_deploy_registers_plans_by_hash(tmp_path: Path) -> None:
    make_project(tmp_path)
    first = cli("deploy", "--format", "json", cwd=tmp_path)
    assert first.exit_code == 0, first.stderr
    doc = json.loads(first.stdout)
    assert [(p["playbook"], p["status"]) for p in doc["playbooks"]] == [("welcome", "new")]
    again = json.loads(cli("deploy", "--format", "json", cwd=tmp_path).stdout)
    assert again["playbooks"][0]["status"] == "unchanged"
    assert again["playbooks"][0]["hash"] == doc["playbooks"][0]["hash"]
    (tmp_path / "sequences" / "welcome.fsl").write_text(V2)
    text = cli("deploy", cwd=tmp_path)
    assert text.exit_code == 0 and "updated" in text.stdout
    rt = runtime(tmp_path / "fsl.yaml")
    with rt.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(plans)).scalar() == 2
    rt.close()


def test_running_enrollments_stay_on_their_plan(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    old = _enrollments(config)["c0001"]["plan_hash"]
    (tmp_path / "sequences" / "welcome.fsl").write_text(V2)
    assert cli("deploy", cwd=tmp_path).exit_code == 0
    rt = runtime(config)
    try:
        rt.record_events(signups(["c0003"], T0 + timedelta(minutes=5)))
        rt.tick(T0 + timedelta(days=3), deliver=False)
    finally:
        rt.close()
    after = _enrollments(config)
    assert after["c0001"]["plan_hash"] == old and after["c0002"]["plan_hash"] == old
    assert after["c0003"]["plan_hash"] != old  # new enrollments start on the deployed plan
    # the old plan's step `last` still ran for the old enrollments
    rt = runtime(config)
    with rt.db.read() as conn:
        steps = {(r.contact, r.step) for r in conn.execute(sa.text("SELECT contact, step FROM actions"))}
    rt.close()
    assert ("c0001", "last") in steps and ("c0002", "last") in steps and ("c0003", "last") not in steps


def test_migrate_moves_by_step_name_and_reports_the_rest(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    old = _enrollments(config)["c0001"]["plan_hash"]
    (tmp_path / "sequences" / "welcome.fsl").write_text(V2)
    result = cli("deploy", "--migrate", "--format", "json", cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["migrated"] == {"welcome": 1}
    assert [(u["contact"], u["step"]) for u in doc["unmovable"]] == [("c0001", "last")]
    assert "no longer exists" in doc["unmovable"][0]["reason"]
    after = _enrollments(config)
    assert after["c0001"]["plan_hash"] == old  # stays where it was
    new = doc["playbooks"][0]["hash"]
    assert after["c0002"]["plan_hash"] == new
    assert json.loads(after["c0002"]["state"])["step"] == 1  # `followup` in the new plan
    # the text output lists the unmovable enrollment
    again = cli("deploy", "--migrate", cwd=tmp_path)
    assert "could not move" in again.stdout and "c0001" in again.stdout
    rt = runtime(config)
    try:
        rt.tick(T0 + timedelta(days=3), deliver=False)
    finally:
        rt.close()
    final = _enrollments(config)
    assert final["c0002"]["outcome"] == "completed"  # the new plan has no step after followup
    assert final["c0001"]["outcome"] == "completed"
    out = cli("explain", "c0002", "--format", "json", cwd=tmp_path)
    assert any(j["kind"] == "migrated" for j in json.loads(out.stdout)["enrollments"][0]["journal"])


def test_waiting_inside_a_changed_step_cannot_move(tmp_path: Path) -> None:
    config = make_project(tmp_path, playbooks={"waiting": WAITING})
    assert cli("deploy", cwd=tmp_path).exit_code == 0
    rt = runtime(config)
    try:
        rt.put_contacts(contacts(2), now=T0)
        rt.record_events(signups(["c0001", "c0002"], T0))
        rt.tick(T0, deliver=False)
    finally:
        rt.close()
    same_body = WAITING.replace("step outro after 1 day:", "step outro after 3 days:")
    (tmp_path / "sequences" / "waiting.fsl").write_text(same_body)
    doc = json.loads(cli("deploy", "--migrate", "--format", "json", cwd=tmp_path).stdout)
    assert doc["migrated"] == {"waiting": 2} and doc["unmovable"] == []  # intro's body did not change
    changed = same_body.replace("wait 2 days", "wait 1 day")
    (tmp_path / "sequences" / "waiting.fsl").write_text(changed)
    doc = json.loads(cli("deploy", "--migrate", "--format", "json", cwd=tmp_path).stdout)
    assert doc["migrated"] == {"waiting": 0}
    assert {u["contact"] for u in doc["unmovable"]} == {"c0001", "c0002"}
    assert all("whose body changed" in u["reason"] for u in doc["unmovable"])


def test_enroll_when_checks_are_scheduled_on_deploy(tmp_path: Path) -> None:
    config = make_project(tmp_path, playbooks={"welcome": WELCOME})
    rt = runtime(config)
    rt.put_contacts(contacts(5), now=T0)
    rt.close()
    daily = WELCOME.replace("playbook welcome:", "playbook daily:").replace(
        "    enroll on signed_up\n", '    enroll when contact.first_name != none check cron "0 9 * * *"\n')
    (tmp_path / "sequences" / "daily.fsl").write_text(daily)
    doc = json.loads(cli("deploy", "--format", "json", "--now", "2026-11-23T08:00:00Z", cwd=tmp_path).stdout)
    assert doc["checks_scheduled"] == 5
    rt = runtime(config)
    with rt.db.read() as conn:
        rows = conn.execute(sa.select(checks.c.contact, checks.c.at)).all()
    rt.close()
    assert len(rows) == 5 and {r.at for r in rows} == {int((T0.replace(hour=9)).timestamp())}
    again = json.loads(cli("deploy", "--format", "json", cwd=tmp_path).stdout)
    assert again["checks_scheduled"] == 0  # nothing changed


def test_deploy_bad_inputs(tmp_path: Path) -> None:
    make_project(tmp_path)
    missing = cli("deploy", "nope.fsl", cwd=tmp_path)
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    (tmp_path / "sequences" / "broken.fsl").write_text("playbook broken:\n    step a:\n        send email \"nope\"\n")
    broken = cli("deploy", cwd=tmp_path)
    assert broken.exit_code == 1 and "nothing deployed" in broken.stderr
    assert "E209" in broken.stderr or "template" in broken.stderr
    bad_now = cli("deploy", "--now", "yesterday", cwd=tmp_path)
    assert bad_now.exit_code == 2
    nowhere = cli("deploy", cwd=tmp_path.parent)
    assert nowhere.exit_code == 2 and "fsl.yaml" in nowhere.stderr
