"""One opt-out stops everything (SIGNALS.md 1-3, fsl/engine/suppression.py).

The same timelines run through the simulator (memory store) and through
production ticks (SQL store, outbox): `unsubscribed`, `complained` and a
reply of kind `unsubscribe_request` end the contact's enrollments in every
playbook that sends -- even one with no `stop on` rule -- as `unsubscribed`,
withdraw their queued messages, and leave task-only playbooks alone; a hard
bounce suppresses the address for every playbook and contact.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from fsl.compiler import compile_module
from fsl.config import load_config
from fsl.engine.model import Contact, Event
from fsl.simulator.scenario import Scenario
from fsl.simulator.simulate import simulate
from fsl.store.schema import actions
from fsl.syntax.parser import parse_module

from .test_ops_support import cli, runtime
from .test_pg_support import pg_url  # noqa: F401 - the fixture

UTC = timezone.utc
PROJECT = Path(__file__).parent / "fixtures" / "suppression"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OPT_OUTS = [("replied", {"kind": "unsubscribe_request"}), ("unsubscribed", {}), ("complained", {})]


def people(*specs: tuple[str, str]) -> list[Contact]:
    return [Contact(cid, {"id": cid, "email": email, "phone": "+15550100", "first_name": cid,
                          "owner": "rep@acme.example"}) for cid, email in specs]


def simulated(evs: list[Event], contacts: list[Contact], src: str | None = None):
    """The fixture's playbooks (or `src`) simulated for 20 days from T0."""
    config, _ = load_config(PROJECT / "fsl.yaml")
    text = src if src is not None else (PROJECT / "sequences" / "playbooks.fsl").read_text()
    module, diags = parse_module(text, "playbooks.fsl")
    assert not [d for d in diags if d.is_error]
    scn = Scenario(Path("inline.yaml"), compile_module(module, config), config, T0, T0 + timedelta(days=20),
                   contacts, [], evs)
    return simulate(scn)


def ended(sim) -> dict[str, tuple]:
    return {f"{en.contact}/{en.playbook}": (en.outcome, en.ended_at) for en in sim.enrollments()}


# ------------------------------------------------------------------ the simulator

@pytest.mark.parametrize("kind, fields", OPT_OUTS)
def test_an_opt_out_ends_every_sending_enrollment_and_spares_task_playbooks(kind, fields):
    at = T0 + timedelta(days=1)
    sim = simulated([Event(T0, "signed_up", "c1"), Event(at, kind, "c1", None, "first", dict(fields))],
                    people(("c1", "c1@example.com")))
    outcomes = ended(sim)
    assert outcomes["c1/noisy"] == ("unsubscribed", at)  # no `stop on` rule of its own
    assert outcomes["c1/polite"] == ("unsubscribed", at)
    assert outcomes["c1/calls"] == ("completed", T0 + timedelta(days=3))  # tasks only: untouched
    sent = [(a.playbook, a.step) for a in sim.actions() if a.kind == "send"]
    assert sent == [("noisy", "hello"), ("polite", "first")]  # nothing after the opt-out
    why = next(en.reason for en in sim.enrollments() if en.playbook == "noisy")
    assert why.startswith(f"suppressed: {kind}")
    if kind == "replied":
        assert "kind=unsubscribe_request" in why and "step first" in why


def test_stop_on_unsubscribed_as_name_names_the_outcome():
    src = (PROJECT / "sequences" / "playbooks.fsl").read_text().replace(
        "    stop on unsubscribed\n", "    stop on unsubscribed as opted_out\n")
    at = T0 + timedelta(hours=5)
    sim = simulated([Event(T0, "signed_up", "c1"), Event(at, "replied", "c1", None, "first",
                                                         {"kind": "unsubscribe_request"})],
                    people(("c1", "c1@example.com")), src)
    assert ended(sim)["c1/polite"] == ("opted_out", at)
    assert ended(sim)["c1/noisy"] == ("unsubscribed", at)


def test_other_replies_do_not_suppress():
    sim = simulated([Event(T0, "signed_up", "c1"), Event(T0 + timedelta(hours=5), "replied", "c1", None, "first",
                                                         {"kind": "out_of_office"})],
                    people(("c1", "c1@example.com")))
    assert {k: v[0] for k, v in ended(sim).items()} == {"c1/noisy": "completed", "c1/polite": "completed",
                                                       "c1/calls": "completed"}


def test_an_opted_out_contact_is_enrolled_only_by_task_playbooks():
    sim = simulated([Event(T0, "replied", "c1", None, None, {"kind": "unsubscribe_request"}),
                     Event(T0 + timedelta(days=1), "signed_up", "c1")], people(("c1", "c1@example.com")))
    assert sorted(ended(sim)) == ["c1/calls"]
    skipped = [j.reason for j in sim.store.journal_entries() if j.kind == "skipped"]
    assert len(skipped) == 2 and all("opted out (replied kind=unsubscribe_request" in r for r in skipped)


def test_a_hard_bounce_suppresses_the_address_for_every_playbook_and_contact():
    # c2 shares c1's mailbox, written differently; c3 has an address of its own
    contacts = people(("c1", "ana@example.com"), ("c2", " Ana <ANA@example.com>"), ("c3", "bo@example.com"))
    evs = [Event(T0, "signed_up", "c1"), Event(T0 + timedelta(minutes=3), "bounced", "c1", None, "first",
                                               {"kind": "hard"}),
           Event(T0 + timedelta(days=1), "signed_up", "c2"), Event(T0 + timedelta(days=1), "signed_up", "c3")]
    sim = simulated(evs, contacts)
    emails = sorted((a.contact, a.step) for a in sim.actions() if a.kind == "send" and a.channel == "email")
    assert emails == [("c1", "first"), ("c3", "first"), ("c3", "second"), ("c3", "third")]
    # the enrollments go on: other channels and tasks are fine
    assert sorted((a.contact, a.step) for a in sim.actions() if a.channel == "whatsapp")[:2] == \
        [("c1", "close_the_loop"), ("c1", "hello")]
    assert {k: v[0] for k, v in ended(sim).items() if k.startswith("c2")} == \
        {"c2/noisy": "completed", "c2/polite": "completed", "c2/calls": "completed"}
    skipped = [j for j in sim.store.journal_entries() if j.kind == "skipped"]
    assert len(skipped) == 5 and all("ana@example.com is suppressed (hard bounce: bounced kind=hard" in j.reason
                                     for j in skipped)
    assert any(j.kind == "suppressed" and j.contact == "c1" for j in sim.store.journal_entries())


def test_a_soft_bounce_suppresses_nothing():
    evs = [Event(T0, "signed_up", "c1"), Event(T0 + timedelta(minutes=3), "bounced", "c1", None, "first",
                                               {"kind": "soft"})]
    sim = simulated(evs, people(("c1", "ana@example.com")))
    assert len([a for a in sim.actions() if a.channel == "email"]) == 3


# ------------------------------------------------------------------ production ticks

@pytest.fixture(params=["sqlite", "postgresql"])
def project(request, tmp_path: Path) -> Path:
    shutil.copytree(PROJECT, tmp_path / "p")
    config = tmp_path / "p" / "fsl.yaml"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        config.write_text(config.read_text().replace('"sqlite:///fsl.db"', json.dumps(url)))
    return config


def _start(config: Path, contacts: list[Contact]):
    from fsl.runtime.deploy import deploy

    rt = runtime(config)
    deploy(rt, [], now=T0)
    rt.put_contacts(contacts, now=T0)
    rt.record_events([Event(T0, "signed_up", c.id) for c in contacts])
    rt.tick(T0, deliver=False)  # the first sends and tasks wait in the outbox
    return rt


def _outbox(rt) -> dict[tuple, tuple]:
    a = actions.c
    with rt.db.read() as conn:
        rows = conn.execute(sa.select(a.contact, a.playbook, a.step, a.status, a.last_error).order_by(a.id)).all()
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


@pytest.mark.parametrize("kind, fields", OPT_OUTS)
def test_a_tick_ends_sending_enrollments_and_withdraws_their_outbox(project: Path, kind, fields):
    rt = _start(project, people(("c1", "c1@example.com")))
    try:
        at = T0 + timedelta(hours=2)
        rt.record_events([Event(at, kind, "c1", None, "first", dict(fields))])
        rt.tick(T0 + timedelta(days=10), deliver=False)
        box = _outbox(rt)
    finally:
        rt.close()
    for playbook, step in (("noisy", "hello"), ("polite", "first")):
        status, error = box[("c1", playbook, step)]
        assert status == "cancelled" and error.startswith(f"cancelled: suppressed: {kind}")
    assert box[("c1", "calls", "call")] == ("pending", None)  # the task-only playbook's: untouched
    assert box[("c1", "calls", "again")][0] == "pending"
    assert len(box) == 4  # no later sends
    doc = json.loads(cli("explain", "c1", "--format", "json", "--config", str(project)).stdout)
    ens = {en["playbook"]: en for en in doc["enrollments"]}
    for playbook in ("noisy", "polite"):
        assert ens[playbook]["outcome"] == "unsubscribed" and ens[playbook]["ended_at"] == "2026-11-23T12:00:00Z"
        assert ens[playbook]["reason"].startswith(f"suppressed: {kind}") and "(event #" in ens[playbook]["reason"]
    assert ens["calls"]["outcome"] == "completed"


def test_a_tick_skips_sends_to_an_address_that_bounced_hard(project: Path):
    rt = _start(project, people(("c1", "ana@example.com"), ("c2", "ANA@example.com"), ("c3", "bo@example.com")))
    try:
        rt.record_events([Event(T0 + timedelta(minutes=5), "bounced", "c1", None, "first", {"kind": "hard"})])
        rt.tick(T0 + timedelta(days=10), deliver=False)
        box = _outbox(rt)
    finally:
        rt.close()
    emails = sorted(k[0] + "/" + k[2] for k in box if k[1] == "polite")
    assert emails == ["c1/first", "c2/first", "c3/first", "c3/second", "c3/third"]  # sent before the bounce
    doc = json.loads(cli("explain", "c2", "--format", "json", "--config", str(project)).stdout)
    polite = next(en for en in doc["enrollments"] if en["playbook"] == "polite")
    skipped = [j["reason"] for j in polite["journal"] if j["kind"] == "skipped"]
    assert len(skipped) == 2 and all("ana@example.com is suppressed (hard bounce: bounced kind=hard" in r
                                     for r in skipped)
    doc = json.loads(cli("explain", "c1", "--format", "json", "--config", str(project)).stdout)
    assert any(j["kind"] == "suppressed" and "address ana@example.com suppressed" in j["reason"]
               for j in doc["contact_journal"])
