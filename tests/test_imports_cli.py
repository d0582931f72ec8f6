"""The data commands end to end: `fsl contacts/deals/events import`, `fsl event`, `fsl enroll`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.cli.main import main

from .test_ops_support import fsl_in, write_project

CONFIG = """\
version: 1
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
    tier: {enum: [A, B, C]}
  deal:
    name: string
    amount: number?
  stakeholder:
    role: {enum: [technical, economic]}
events:
  meeting_ended: {}
  purchased: {amount: number}
channels:
  email: {adapter: smtp, host: 127.0.0.1, port: 1, from: "Ana <ana@acme.example>"}
"""

PLAYBOOK = """\
playbook hello:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed

    step recap:
        send email "recap"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, CONFIG, PLAYBOOK)


fsl = fsl_in


def stored(project: Path):
    """What the store holds: contacts, deal d1, every event row (pending or done)."""
    import sqlalchemy as sa

    from fsl.runtime.runtime import Runtime
    from fsl.store.rows import event_from
    from fsl.store.schema import events as table

    rt = Runtime.open(project / "fsl.yaml")
    try:
        with rt.store.snapshot() as store:
            contacts = {cid: store.get_contact(cid) for cid in store.contact_ids()}
            deal = store.get_deal("d1")
            events = [event_from(r) for r in store.conn.execute(sa.select(table).order_by(table.c.id)).mappings()]
        return contacts, deal, events
    finally:
        rt.close()


def test_contacts_import_reports_bad_rows_and_reimport_updates(project):
    path = project / "contacts.csv"
    path.write_text("id,email,first_name,tier,nick\nc1,a@x.example,Ana,A,x\nc2,b@x.example,Bo,Z,y\n")
    code, out, err = fsl(project, "contacts", "import", str(path), "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert (doc["created"], doc["imported"]) == (1, 1)
    assert doc["problems"] == [{"line": 3, "reason": "tier: 'Z' is not one of A, B, C"}]
    assert doc["warnings"][0]["line"] == 1 and "nick" in doc["warnings"][0]["message"]
    assert "contacts.csv:3:" in err
    code, out, err = fsl(project, "contacts", "import", str(path))
    assert code == 1 and out == "" and "0 new, 0 updated, 1 unchanged" in err
    (project / "fix.csv").write_text("id,tier\nc2,B\nc1,C\n")
    code, _, err = fsl(project, "contacts", "import", str(project / "fix.csv"))
    assert code == 0 and "1 new, 1 updated" in err
    contacts, _, _ = stored(project)
    assert sorted(contacts) == ["c1", "c2"]
    assert contacts["c1"].fields == {"id": "c1", "email": "a@x.example", "first_name": "Ana", "tier": "C"}


def test_deals_import_with_stakeholders(project):
    (project / "c.jsonl").write_text('{"id": "c1", "first_name": "Ana", "tier": "A"}\n')
    assert fsl(project, "contacts", "import", str(project / "c.jsonl"))[0] == 0
    path = project / "deals.csv"
    path.write_text("id,name,amount,contact,role\nd1,Northwind,100,c1,economic\nd1,,,c9,technical\n")
    code, out, err = fsl(project, "deals", "import", str(path), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["created"] == 1 and "c9 is not a known contact" in doc["warnings"][0]["message"]
    _, deal, _ = stored(project)
    assert deal.fields == {"id": "d1", "name": "Northwind", "amount": 100}
    assert deal.stakeholders == {"c1": {"role": "economic"}, "c9": {"role": "technical"}}
    path.write_text("id,name,amount,contact,role\nd1,Northwind,100,c1,technical\n")
    assert fsl(project, "deals", "import", str(path))[0] == 0
    _, deal, _ = stored(project)
    assert deal.stakeholders == {"c1": {"role": "technical"}}  # the file lists the stakeholders completely


def test_events_import_keeps_unknowns_and_never_duplicates(project):
    (project / "c.csv").write_text("id,first_name,tier\nc1,Ana,A\n")
    fsl(project, "contacts", "import", str(project / "c.csv"))
    lines = [{"at": "2026-11-23T14:00:00Z", "type": "meeting_ended", "contact": "c1"},
             {"at": "2026-11-23T14:05:10Z", "type": "purchased", "contact": "ghost", "amount": 12},
             {"at": "2026-11-23T14:06:00Z", "type": "nope", "contact": "c1"}]
    path = project / "events.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    code, out, err = fsl(project, "events", "import", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["recorded"] == 2
    assert [p["line"] for p in doc["problems"]] == [3, 4]
    assert any("ghost is not known" in w["message"] and w["line"] == 2 for w in doc["warnings"])
    code, out, _ = fsl(project, "events", "import", str(path), "--format", "json")
    assert json.loads(out)["recorded"] == 0 and json.loads(out)["duplicates"] == 2
    _, _, events = stored(project)
    assert sorted(e.type for e in events) == ["meeting_ended", "purchased"]


def test_event_command(project):
    code, out, err = fsl(project, "event", "purchased", "--contact", "c1", "--data", "amount=12.5",
                         "--at", "2026-11-23T15:00:00Z", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["event"] == {"at": "2026-11-23T15:00:00Z", "type": "purchased", "contact": "c1", "deal": None,
                            "step": None, "fields": {"amount": 12.5}}
    assert "c1 is not known" in doc["warnings"][0]
    assert fsl(project, "event", "purchased", "--contact", "c1", "--data", "amount=lots")[0] == 2
    assert fsl(project, "event", "purchased", "--contact", "c1", "--data", "colour=red")[0] == 2
    assert fsl(project, "event", "purchased")[0] == 2  # neither contact nor deal
    assert fsl(project, "event", "exploded", "--contact", "c1")[0] == 2
    assert fsl(project, "event", "opened", "--contact", "c1", "--at", "yesterday")[0] == 2
    code, _, err = fsl(project, "event", "update", "--contact", "c1", "--data", "tier=B")
    assert code == 0, err
    assert fsl(project, "event", "update", "--contact", "c1", "--data", "tier=Q")[0] == 2
    _, _, events = stored(project)
    assert [e.fields for e in events] == [{"amount": 12.5}, {"set": {"tier": "B"}}]


def test_enroll_command(project):
    assert fsl(project, "deploy", str(project / "sequences"))[0] == 0
    (project / "c.csv").write_text("id,first_name,tier\nc1,Ana,A\n")
    fsl(project, "contacts", "import", str(project / "c.csv"))
    code, out, err = fsl(project, "enroll", "hello", "--contact", "c1", "--at", "2026-11-23T14:00:00Z",
                         "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["enrolled"] and doc["at"] == "2026-11-23T14:00:00Z" and isinstance(doc["enrollment"], int)
    code, _, err = fsl(project, "enroll", "hello", "--contact", "c1")
    assert code == 1 and "already runs hello" in err
    assert fsl(project, "enroll", "nope", "--contact", "c1")[0] == 2
    assert fsl(project, "enroll", "hello", "--contact", "zz")[0] == 2
    assert fsl(project, "enroll", "hello", "--contact", "c1", "--deal", "dd")[0] == 2


def test_unreadable_input_exits_2(project, tmp_path):
    code, _, err = fsl(project, "contacts", "import", str(project / "missing.csv"))
    assert code == 2 and "cannot read" in err
    (project / "dup.csv").write_text("id,tier,tier\n")
    assert fsl(project, "deals", "import", str(project / "dup.csv"))[0] == 2
    result = CliRunner().invoke(main, ["contacts", "import", "x.csv", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2


def test_an_unknown_time_zone_is_flagged_on_its_line_and_the_row_kept(project):
    path = project / "contacts.csv"
    path.write_text("id,email,first_name,tier,timezone\n"
                    "c1,a@x.example,Ana,A,Mars/Olympus\n"
                    "c2,b@x.example,Bo,B,America/New_Yrok\n"
                    "c3,c@x.example,Cy,C,Europe/Paris\n")
    code, out, err = fsl(project, "contacts", "import", str(path), "--format", "json")
    assert code == 0, err  # no row is bad: each is kept
    report = json.loads(out)
    assert report["problems"] == []
    warnings = {w["line"]: w["message"] for w in report["warnings"]}
    assert sorted(warnings) == [2, 3]
    assert "'Mars/Olympus' is not an IANA time zone" in warnings[2] and "kept as given" in warnings[2]
    assert "did you mean America/New_York?" in warnings[3]
    assert f"{path}:2: warning: timezone 'Mars/Olympus'" in err
    contacts, _, _ = stored(project)
    # Kept, not replaced: the runtime falls back to the playbook's default zone for it.
    assert contacts["c1"].fields["timezone"] == "Mars/Olympus"
    assert contacts["c3"].fields["timezone"] == "Europe/Paris"


def test_an_update_event_setting_an_unknown_time_zone_is_flagged(project):
    path = project / "events.jsonl"
    path.write_text('{"at": "2026-11-23T14:00:00Z", "type": "update", "contact": "c1", "set": {"timezone": "UTC"}}\n'
                    '{"at": "2026-11-23T15:00:00Z", "type": "update", "contact": "c1", '
                    '"set": {"timezone": "Mars/Olympus"}}\n')
    code, out, err = fsl(project, "events", "import", str(path), "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    zones = [w for w in report["warnings"] if "time zone" in w["message"]]  # (c1 is not known: also said)
    assert [w["line"] for w in zones] == [2] and "'Mars/Olympus' is not an IANA time zone" in zones[0]["message"]
    assert report["problems"] == []
