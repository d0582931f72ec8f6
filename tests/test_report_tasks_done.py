"""`fsl tasks done ID` then `fsl report`: the report counts the task done.

`tasks done` records a `task_done` event (CONSOLE.md) whose `task` field is the
task's *id* (and `action`, its action key); the report used to read `task` as
the task kind, so no task was ever completed.  Older `task_completed` events
still count.
"""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fsl.engine.model import Event

from .test_ops_support import T0, at, cli, make_project, populate, runtime


def _report(folder: Path) -> dict:
    res = cli("report", "--format", "json", cwd=folder)
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_a_task_done_by_id_counts_as_completed(tmp_path: Path) -> None:
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 3)
    cli("tick", "--now", at(), "--no-deliver", cwd=tmp_path)
    cli("tick", "--now", at(days=1, minutes=5), cwd=tmp_path)  # the followup step: a call task each
    listing = json.loads(cli("tasks", "--format", "json", cwd=tmp_path).stdout)["tasks"]
    assert len(listing) == 3
    second = next(t for t in listing if t["contact"] == "c0002")
    assert cli("tasks", "done", str(second["id"]), "--now", at(days=1, minutes=30), cwd=tmp_path).exit_code == 0
    cli("tick", "--now", at(days=1, minutes=31), "--no-deliver", cwd=tmp_path)
    total = _report(tmp_path)["execution"]["tasks_total"]
    assert (total["created"], total["completed"], total["overdue"]) == (3, 1, 2)
    assert total["completion_rate"] == 1 / 3
    owners = {o["owner"]: o["completed"] for o in _report(tmp_path)["execution"]["tasks"]}
    assert owners == {"Ana Ruiz <ana@acme.example>": 1, "rep@acme.example": 0}  # c0002's owner is Ana


def test_an_event_naming_a_task_id_without_its_action_matches_by_kind_and_step(tmp_path: Path) -> None:
    """Events recorded by `tasks done` before it named the action: `task` is
    an id, so the kind is read from `kind`."""
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 1)
    cli("tick", "--now", at(), "--no-deliver", cwd=tmp_path)
    cli("tick", "--now", at(days=1, minutes=5), cwd=tmp_path)
    rt = runtime(tmp_path / "fsl.yaml")  # what `tasks done` recorded before it named the action
    rt.record_events([Event(T0 + timedelta(days=1, minutes=20), "task_completed", "c0001", None, None,
                            {"task": 1, "kind": "call", "playbook": "welcome", "step": "followup"})])
    rt.close()
    cli("tick", "--now", at(days=1, minutes=31), "--no-deliver", cwd=tmp_path)
    total = _report(tmp_path)["execution"]["tasks_total"]
    assert (total["created"], total["completed"]) == (1, 1)
