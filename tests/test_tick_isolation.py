"""No record can stop the runtime: user data shaped like the codec's tags goes
through import, event, tick and explain; an enrollment, a check or an event
whose processing raises is isolated (failed / flagged, journaled, reported by
`fsl status`) and the tick goes on with the others."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st


from .test_ops_support import fsl_in, write_project

CONFIG = """\
version: 1
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
    score: number?
    tags: list?
  deal:
    name: string
events:
  meeting_ended: {}
  purchased: {amount: number}
channels:
  email: {adapter: smtp, host: 127.0.0.1, port: 1, from: "Ana <ana@acme.example>"}
"""

HELLO = """\
playbook hello:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed
    stop on purchased where event.amount / 2 > 1000
    stop when contact.score / 2 > 1000

    step recap:
        send email "recap"
"""

# an `enroll on ... where` that raises for one event, an `enroll when` that raises for one contact
BUYERS = """\
playbook buyers:
    enroll on purchased where event.amount / 2 > 1
    timezone "UTC"
    stop on unsubscribed

    step thanks:
        send email "recap"
"""

SEGMENT = """\
playbook whales:
    enroll when contact.score / 2 > 1000000
    timezone "UTC"
    stop on unsubscribed

    step hi:
        send email "recap"
"""

NOW = "2026-11-23T15:00:00Z"
HUGE = 10**400  # an exact JSON integer; as a float (division) it overflows


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, CONFIG, HELLO)


fsl = fsl_in


def lines(path: Path, *rows: dict) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def stored_contact(project: Path, cid: str):
    from fsl.runtime.runtime import Runtime

    rt = Runtime.open(project / "fsl.yaml")
    try:
        with rt.store.snapshot() as store:
            return store.get_contact(cid)
    finally:
        rt.close()


def test_a_contact_with_tag_shaped_data_goes_through_every_command(project: Path) -> None:
    assert fsl(project, "deploy")[0] == 0
    tags = [{"$t": "vip"}, {"$d": 5}, {"$$t": "x"}, "$100"]
    path = lines(project / "c.jsonl", {"id": "c1", "email": "a@x.example", "first_name": "Ana", "tags": tags},
                 {"id": "c2", "email": "b@x.example", "first_name": "Bo"})
    code, out, err = fsl(project, "contacts", "import", str(path))
    assert code == 0, err
    assert fsl(project, "event", "meeting_ended", "--contact", "c1", "--at", NOW)[0] == 0
    ev = lines(project / "e.jsonl", {"type": "meeting_ended", "contact": "c2", "at": NOW})
    assert fsl(project, "events", "import", str(ev))[0] == 0
    code, out, err = fsl(project, "tick", "--now", NOW, "--no-deliver", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["events"], report["steps"]) == (2, 2)
    code, out, err = fsl(project, "explain", "c1", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["enrollments"][0]["outcome"] == "completed" and doc["fields"]["tags"] == tags
    assert stored_contact(project, "c1").fields["tags"] == tags


def test_one_failing_enrollment_event_and_check_never_stop_the_tick(project: Path) -> None:
    (project / "sequences" / "buyers.fsl").write_text(BUYERS)
    (project / "sequences" / "whales.fsl").write_text(SEGMENT)
    assert fsl(project, "deploy")[0] == 0
    people = [{"id": f"c{i}", "email": f"c{i}@x.example", "first_name": f"N{i}", "score": i} for i in range(1, 4)]
    people.append({"id": "bad", "email": "bad@x.example", "first_name": "Bad", "score": HUGE})
    assert fsl(project, "contacts", "import", str(lines(project / "c.jsonl", *people)))[0] == 0
    evs = [{"type": "meeting_ended", "contact": p["id"], "at": NOW} for p in people]
    evs += [{"type": "purchased", "contact": "c1", "at": NOW, "amount": HUGE},
            {"type": "purchased", "contact": "c2", "at": NOW, "amount": 10}]
    assert fsl(project, "events", "import", str(lines(project / "e.jsonl", *evs)))[0] == 0

    code, out, err = fsl(project, "tick", "--now", NOW, "--no-deliver", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    # c2, c3 run hello, c2 also buyers; `bad` fails in hello (stop when), c1 too (its stop on
    # cannot read the purchase, which is kept, flagged: buyers' enroll on cannot either)
    assert report["events"] == 6 and report["steps"] == 3 and report["actions"] == {"send": 3}

    code, out, _ = fsl(project, "explain", "bad", "--format", "json")
    doc = json.loads(out)
    hello = [en for en in doc["enrollments"] if en["playbook"] == "hello"][0]
    assert hello["outcome"] == "failed" and "OverflowError" in hello["reason"]
    assert any("whales: enroll when of bad could not be evaluated" in j["reason"] for j in doc["contact_journal"])
    _, out, _ = fsl(project, "explain", "c1", "--format", "json")
    assert any("event purchased could not be applied (OverflowError" in j["reason"]
               for j in json.loads(out)["contact_journal"])

    code, out, _ = fsl(project, "status", "--format", "json")
    status = json.loads(out)
    assert sorted((f["contact"], f["playbook"]) for f in status["failed_enrollments"]) == [
        ("bad", "hello"), ("c1", "hello")]
    assert status["unknown_events"] == {"error": 1}
    assert [(e["type"], e["contact"], e["flag"]) for e in status["unknown_event_list"]] == [
        ("purchased", "c1", "error")]
    code, text, _ = fsl(project, "status")
    assert code == 0 and "recent failed enrollments:" in text and "1 error" in text

    # the next tick does not trip over them again
    code, out, err = fsl(project, "tick", "--now", "2026-11-23T15:05:00Z", "--no-deliver", "--format", "json")
    assert code == 0, err and json.loads(out)["events"] == 0


# ------------------------------------------------------------------ property: any JSON round-trips

PROPERTY_CONFIG = CONFIG.replace("    tags: list?\n", "    tags: list?\n    note: string?\n").replace(
    "    name: string\n", "    name: string\n    data: list?\n").replace(
    "  meeting_ended: {}\n", "  meeting_ended: {data: list?, note: string?}\n")

MEGA = "x" * 1_000_000 + "\x00\ud800$"
odd_text = st.text(st.sampled_from(["\x00", "\ud800", "\udfff", "$", '"', "\\", "é", "\U0001f600", "a", " "]),
                   max_size=6)
keys = st.sampled_from(["$t", "$d", "$dur", "$$t", "$", "$$", "$x", "id", "\x00", "\ud800"]) | st.text(max_size=3)
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5) | odd_text
           | st.sampled_from(["vip", "2026-01-01", "2026-01-01T00:00:00+00:00", "$t"]))
any_json = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)
    | st.lists(inner, min_size=2, max_size=2).map(lambda pair: {"$dur": pair}), max_leaves=8)
lists = st.lists(any_json, max_size=3) | st.just([{"$t": MEGA}])  # one line stays under io.source.MAX_LINE
# strings within the import limit (coerce.MAX_TEXT) and without surrounding blanks (JSON lines keep them)
notes = st.none() | odd_text | st.sampled_from(["$t", "{\"$t\": \"vip\"}"])


def test_any_json_goes_through_import_tick_and_explain_unchanged(project: Path) -> None:
    from itertools import count

    import sqlalchemy as sa

    from fsl.runtime.runtime import Runtime
    from fsl.store.rows import event_from
    from fsl.store.schema import events

    (project / "fsl.yaml").write_text(PROPERTY_CONFIG)
    assert fsl(project, "deploy")[0] == 0
    serial = count()
    minute = count(1)

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: 1 MB examples
    @given(tags=lists, note=notes, deal_data=lists, event_data=lists, event_note=notes)
    def one(tags, note, deal_data, event_data, event_note) -> None:
        # what the JSON lines say: "\ud800\udfff" in a file is one character, not two lone surrogates
        tags, note, deal_data, event_data, event_note = json.loads(json.dumps(
            [tags, note, deal_data, event_data, event_note]))
        cid, did = f"p{next(serial)}", f"d{next(serial)}"
        at = f"2026-11-23T15:{next(minute):02d}:00Z"
        contact = {"id": cid, "email": f"{cid}@x.example", "first_name": "P", "tags": tags, "note": note}
        deal = {"id": did, "name": "D", "data": deal_data, "stakeholders": [{"contact": cid}]}
        event = {"type": "meeting_ended", "contact": cid, "at": at, "data": event_data, "note": event_note}
        for kind, row in (("contacts", contact), ("deals", deal), ("events", event)):
            code, out, err = fsl(project, kind, "import", str(lines(project / f"{kind}.jsonl", row)))
            assert code == 0, (kind, out, err)
        code, out, err = fsl(project, "tick", "--now", at, "--no-deliver", "--format", "json")
        assert code == 0, err
        assert json.loads(out)["steps"] == 1
        code, out, err = fsl(project, "explain", cid, "--format", "json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["enrollments"][0]["outcome"] == "completed"
        assert doc["fields"]["tags"] == tags and doc["fields"].get("note") == note
        rt = Runtime.open(project / "fsl.yaml")
        try:
            with rt.store.snapshot() as store:
                assert store.get_contact(cid).fields["tags"] == tags
                assert store.get_deal(did).fields["data"] == deal_data
                rows = store.conn.execute(sa.select(events).where(events.c.contact == cid)).mappings()
                (stored,) = [event_from(r) for r in rows]
        finally:
            rt.close()
        assert stored.fields["data"] == event_data and stored.fields.get("note") == event_note

    one()


def test_a_message_that_cannot_render_fails_alone(project: Path) -> None:
    from .smtp_sink import SmtpSink

    (project / "templates" / "recap.md").write_text('---\nsubject: "Hi"\n---\nHalf: {{ contact.score / 2 }}\n')
    (project / "sequences" / "hello.fsl").write_text(HELLO.replace("    stop when contact.score / 2 > 1000\n", ""))
    with SmtpSink() as smtp:
        (project / "fsl.yaml").write_text(CONFIG.replace("port: 1,", f"port: {smtp.port},"))
        assert fsl(project, "deploy")[0] == 0
        people = [{"id": "good", "email": "g@x.example", "first_name": "G", "score": 4},
                  {"id": "bad", "email": "b@x.example", "first_name": "B", "score": HUGE}]
        assert fsl(project, "contacts", "import", str(lines(project / "c.jsonl", *people)))[0] == 0
        evs = [{"type": "meeting_ended", "contact": p["id"], "at": NOW} for p in people]
        assert fsl(project, "events", "import", str(lines(project / "e.jsonl", *evs)))[0] == 0
        code, out, err = fsl(project, "tick", "--now", NOW, "--format", "json")
    report = json.loads(out)
    assert code == 1 and (report["delivered"], report["failed"]) == (1, 1), err  # exit 1: a failure
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ["g@x.example"] and "Half: 2" in mail.message.get_content()
    (failure,) = report["failures"]
    assert failure["contact"] == "bad" and "cannot render" in failure["error"]


def test_rows_no_code_can_read_are_set_aside_and_the_tick_goes_on(project: Path) -> None:

    from fsl.store import open_store
    from fsl.store.schema import enrollments, events

    assert fsl(project, "deploy")[0] == 0
    people = [{"id": f"c{i}", "email": f"c{i}@x.example", "first_name": f"N{i}"} for i in range(1, 5)]
    assert fsl(project, "contacts", "import", str(lines(project / "c.jsonl", *people)))[0] == 0
    evs = [{"type": "meeting_ended", "contact": p["id"], "at": NOW} for p in people[:3]]
    assert fsl(project, "events", "import", str(lines(project / "e.jsonl", *evs)))[0] == 0
    assert fsl(project, "enroll", "hello", "--contact", "c4", "--at", NOW)[0] == 0
    db = open_store(f"sqlite:///{project}/fsl.db")
    with db.write() as conn:  # edited by hand: not JSON any more
        conn.execute(events.update().where(events.c.contact == "c2").values(fields="{broken"))
        conn.execute(enrollments.update().where(enrollments.c.contact == "c4").values(state="{broken"))
    db.dispose()

    code, out, err = fsl(project, "tick", "--now", NOW, "--no-deliver", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["steps"] == 2  # c1 and c3

    _, out, _ = fsl(project, "status", "--format", "json")
    status = json.loads(out)
    assert [(f["contact"], f["playbook"]) for f in status["failed_enrollments"]] == [("c4", "hello")]
    assert "JSONDecodeError" in status["failed_enrollments"][0]["reason"]
    assert [(e["contact"], e["flag"]) for e in status["unknown_event_list"]] == [("c2", "error")]
    _, out, _ = fsl(project, "explain", "c2", "--format", "json")
    assert any("could not be read" in j["reason"] for j in json.loads(out)["contact_journal"])
