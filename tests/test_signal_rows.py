"""Events from signals keep their source, evidence and dedup key (SIGNALS.md 5; schema v8)."""
from __future__ import annotations

import json
from datetime import timedelta

from fsl.engine.model import Event

from .test_ops_support import T0, cli, make_project, populate, runtime


def test_a_signal_is_recorded_once_with_its_source_and_evidence_shown_by_explain(tmp_path):
    config = make_project(tmp_path)
    populate(config, 2)
    rt = runtime(config)
    try:
        rt.tick(T0 + timedelta(minutes=1), deliver=False)
        opened = Event(T0 + timedelta(minutes=5), "opened", contact="c0001", step="hello",
                       fields={"machine": True}, source="sendgrid",
                       evidence=("sg_machine_open: true",), dedup="sendgrid:ev-1")
        assert rt.ingest_now([opened]) == []
        again = Event(T0 + timedelta(minutes=6), "opened", contact="c0001", step="hello",
                      fields={"machine": True}, source="sendgrid", dedup="sendgrid:ev-1")
        warnings = rt.ingest_now([again, again])
        assert warnings == ["opened sendgrid:ev-1: already recorded, not recorded again"] * 2
        # Same key twice in one batch: the second is the repeat.
        other = Event(T0 + timedelta(minutes=7), "clicked", contact="c0002", step="hello",
                      source="mailgun", dedup="mailgun:x")
        assert rt.ingest_now([other, other]) == ["clicked mailgun:x: already recorded, not recorded again"]
    finally:
        rt.close()
    out = json.loads(cli("explain", "c0001", "--format", "json", "--config", str(config)).output)
    opens = [e for e in out["events"] if e["type"] == "opened"]
    assert len(opens) == 1
    assert opens[0]["source"] == "sendgrid" and opens[0]["evidence"] == ["sg_machine_open: true"]
    signups = [e for e in out["events"] if e["type"] == "signed_up"]
    assert signups and signups[0]["source"] is None and signups[0]["evidence"] == []
