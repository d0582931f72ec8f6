"""`fsl demo` end to end: the folder, the summary, the .eml files, determinism."""
from __future__ import annotations

import json
from email import message_from_bytes
from pathlib import Path

import sqlalchemy as sa

from fsl.demo.run import PACKAGED, run
from fsl.store import open_store

from .test_ops_support import cli

PLAYBOOKS = {"churn_risk", "inquiry_response", "multi_stakeholder", "post_meeting", "reengage_silent_deal",
             "renewal_reminder", "tier_a_cadence", "tier_b_cadence", "tier_c_cadence", "winback_price"}


def test_demo_runs_thirty_days_and_leaves_a_project(tmp_path: Path) -> None:
    out = tmp_path / "fsl-demo"
    result = cli("demo", cwd=tmp_path)  # default --out ./fsl-demo, 30 days
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "timeline: 30 simulated days" in text and "summary per playbook" in text
    for name in PLAYBOOKS:
        assert name in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["days"] == 30 and 40 <= summary["contacts"] <= 60 and summary["deals"] >= 5
    assert summary["seconds"] < 45
    books = {b["playbook"]: b for b in summary["playbooks"]}
    assert set(books) == PLAYBOOKS and all(b["enrolled"] > 0 for b in books.values())
    assert sum(b["sends"].get("email", 0) for b in books.values()) > 100
    assert sum(b["tasks"] for b in books.values()) > 20
    outcomes = {o for b in books.values() for o in b["outcomes"]}
    assert {"completed", "stopped", "engaged", "won_back"} <= outcomes and len(outcomes) >= 6
    assert summary["deliveries"]["failed"] >= 1  # the lead without an address: failed and reported
    assert len(summary["timeline"]) >= 28
    seen = {k for day in summary["timeline"] for k in day}
    assert {"opened", "clicked", "replied", "purchased", "unsubscribed", "bounced", "email"} <= seen
    # the sink: one .eml per email handed over, each with its key's Message-ID
    emls = sorted((out / "outbox" / "email").glob("*.eml"))
    assert len(emls) == summary["files"]["email"] > 100
    for path in emls[:20]:
        msg = message_from_bytes(path.read_bytes())
        assert msg["Message-ID"].endswith("@acme.example>") and "@" in msg["To"] and msg["Subject"]
    db = open_store(f"sqlite:///{out / 'fsl.db'}")
    with db.read() as conn:
        emails = conn.execute(sa.text("SELECT count(*) FROM actions WHERE kind = 'send' AND channel = 'email' "
                                      "AND status = 'delivered'")).scalar()
    db.dispose()
    assert emails == len(emls)
    for name in ("contacts.jsonl", "contacts.csv", "deals.jsonl", "events.jsonl", "fsl.yaml", "post_meeting.fsl"):
        assert (out / name).is_file(), name
    # the folder is a working project afterwards
    status = cli("status", "--format", "json", cwd=out)
    assert status.exit_code == 0 and {b["playbook"] for b in json.loads(status.stdout)["playbooks"]} == PLAYBOOKS
    explain = cli("explain", "c001", cwd=out)
    assert explain.exit_code == 0 and "enrolled" in explain.stdout
    assert cli("check", cwd=out).exit_code == 0


def test_demo_is_deterministic_and_replaces_its_own_folder(tmp_path: Path) -> None:
    args = ["demo", "--out", str(tmp_path / "d"), "--days", "4", "--seed", "3", "--format", "json"]
    first = json.loads(cli(*args, cwd=tmp_path).stdout)
    second = json.loads(cli(*args, cwd=tmp_path).stdout)
    for doc in (first, second):
        doc.pop("seconds")
    assert first == second and first["days"] == 4
    other = json.loads(cli(*args[:-4], "--seed", "4", "--format", "json", cwd=tmp_path).stdout)
    other.pop("seconds")
    assert other["timeline"] != first["timeline"]


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = cli("demo", "--out", str(tmp_path / "mine"), cwd=tmp_path)
    assert result.exit_code == 2 and "not made by `fsl demo`" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    assert cli("demo", "--days", "0", cwd=tmp_path).exit_code == 2
    assert cli("demo", "--start", "someday", cwd=tmp_path).exit_code == 2


def test_the_packaged_copy_of_the_examples_runs(tmp_path: Path) -> None:
    result = run(tmp_path / "packaged", days=2, source=PACKAGED)
    assert {b["playbook"] for b in result.playbooks} and result.ticks == 48
    assert (tmp_path / "packaged" / "templates").is_dir()
