"""`fsl explain` tells the truth: when a paused enrollment really runs, the
event (and its fields) that paused or stopped it, a contact's events and
fields when it has no enrollment, instants in the contact's zone."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from fsl.engine.model import Contact, Event

from .test_ops_support import T0, at, cli, make_project, populate, runtime


def _paused(tmp_path: Path) -> None:
    """c0001 got `hello` at T0, then an out-of-office reply at T0+1h: paused 3 days."""
    make_project(tmp_path)
    populate(tmp_path / "fsl.yaml", 1)
    cli("tick", "--now", at(), "--no-deliver", cwd=tmp_path)
    rt = runtime(tmp_path / "fsl.yaml")
    rt.record_events([Event(T0 + timedelta(hours=1), "replied", "c0001", None, "hello", {"kind": "out_of_office"})])
    rt.close()
    cli("tick", "--now", at(120), "--no-deliver", cwd=tmp_path)


def test_a_paused_enrollment_shows_when_it_really_runs(tmp_path: Path) -> None:
    _paused(tmp_path)
    doc = json.loads(cli("explain", "c0001", "--format", "json", cwd=tmp_path).stdout)
    en = doc["enrollments"][0]
    assert en["status"] == "paused" and en["next_due"] == "2026-11-24T15:00:00Z"  # the step's nominal due time
    assert en["paused_until"] == en["runs_at"] == "2026-11-26T16:00:00Z"
    text = cli("explain", "c0001", cwd=tmp_path).stdout
    assert "paused until 2026-11-26 16:00 UTC; runs at 2026-11-26 16:00 UTC" in text
    assert "next due 2026-11-24" not in text


def test_the_event_that_paused_an_enrollment_is_shown_with_its_fields(tmp_path: Path) -> None:
    _paused(tmp_path)
    doc = json.loads(cli("explain", "c0001", "--format", "json", cwd=tmp_path).stdout)
    paused = next(j for j in doc["enrollments"][0]["journal"] if j["kind"] == "paused")
    assert paused["event"]["type"] == "replied" and paused["event"]["fields"] == {"kind": "out_of_office"}
    text = cli("explain", "c0001", cwd=tmp_path).stdout
    assert "[replied kind=out_of_office step=hello]" in text


def test_a_contact_without_enrollment_shows_its_events_and_fields(tmp_path: Path) -> None:
    make_project(tmp_path)
    rt = runtime(tmp_path / "fsl.yaml")
    rt.put_contacts([Contact("solo", {"id": "solo", "email": "solo@example.com", "first_name": "Solo",
                                      "timezone": "America/Chicago"})], now=T0)
    rt.record_events([Event(T0, "opened", "solo", None, None, {"link": "pricing"})])
    rt.close()
    cli("tick", "--now", at(5), "--no-deliver", cwd=tmp_path)
    res = cli("explain", "solo", cwd=tmp_path)
    assert res.exit_code == 0
    assert "first_name=Solo" in res.stdout and "solo@example.com" in res.stdout
    assert "opened" in res.stdout and "link=pricing" in res.stdout
    assert "2026-11-23 09:00 CST" in res.stdout  # the contact's zone
    doc = json.loads(cli("explain", "solo", "--format", "json", cwd=tmp_path).stdout)
    assert [(e["at"], e["type"], e["fields"]) for e in doc["events"]] == [
        ("2026-11-23T15:00:00Z", "opened", {"link": "pricing"})]


def test_explain_shows_instants_in_the_contact_zone_or_tz(tmp_path: Path) -> None:
    make_project(tmp_path)
    rt = runtime(tmp_path / "fsl.yaml")
    rt.put_contacts([Contact("c1", {"id": "c1", "email": "c1@example.com", "first_name": "Ana",
                                    "timezone": "America/Chicago"})], now=T0)
    rt.record_events([Event(T0, "signed_up", "c1")])
    rt.close()
    from fsl.runtime.deploy import deploy

    rt = runtime(tmp_path / "fsl.yaml")
    deploy(rt, [], now=T0)
    rt.close()
    cli("tick", "--now", at(), "--no-deliver", cwd=tmp_path)
    text = cli("explain", "c1", cwd=tmp_path).stdout
    assert "times in America/Chicago" in text and "started 2026-11-23 09:00 CST" in text
    assert "2026-11-23T15:00:00Z" not in text
    paris = cli("explain", "c1", "--tz", "Europe/Paris", cwd=tmp_path).stdout
    assert "started 2026-11-23 16:00 CET" in paris
    doc = json.loads(cli("explain", "c1", "--format", "json", "--tz", "Europe/Paris", cwd=tmp_path).stdout)
    assert doc["enrollments"][0]["started_at"] == "2026-11-23T15:00:00Z"  # JSON stays UTC
    assert cli("explain", "c1", "--tz", "Mars/Base", cwd=tmp_path).exit_code == 2
