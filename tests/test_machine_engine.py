"""Machine engagement in the engine and the report (SIGNALS.md 1): `opened(...)`/`clicked(...)`
see people only, `count(opened, ...)` counts both, reports show both apart."""
from __future__ import annotations

from datetime import datetime, timezone

from fsl.engine.model import Event
from fsl.report.compute import engagement
from fsl.report.facts import Touch

from .test_engine import C1, acts, enroll, header, outcomes, run

SRC = header() + """
    step intro:
        send email "nurture"
    step next after 1 day:
        if opened(intro):
            send email "nurture"
        if count(opened) >= 1:
            task call "someone or something opened"
"""


def _opened(machine: bool | None) -> dict:
    extra = {} if machine is None else {"machine": machine}
    return {"at": "2026-11-24T12:00:00Z", "type": "opened", "contact": "c1", "step": "intro", **extra}


def test_a_machine_open_is_no_open_to_opened_but_count_sees_it():
    start = [enroll("c1", "2026-11-24T10:00:00Z")]
    by_machine = acts(run(SRC, C1, start + [_opened(True)]), "step", "kind")
    by_person = acts(run(SRC, C1, start + [_opened(False)]), "step", "kind")
    unmarked = acts(run(SRC, C1, start + [_opened(None)]), "step", "kind")  # absent = a person
    assert by_machine == [("intro", "send"), ("next", "task")]
    assert by_person == unmarked == [("intro", "send"), ("next", "send"), ("next", "task")]


def test_the_report_counts_people_and_machines_apart():
    at = datetime(2026, 11, 24, tzinfo=timezone.utc)
    touches = [Touch(Event(at, "opened", "c1", fields={"machine": True}), 1, "intro"),
               Touch(Event(at, "opened", "c2", fields={"machine": False}), 2, "intro"),
               Touch(Event(at, "clicked", "c3", fields={"link": "x", "machine": True}), 3, "intro"),
               Touch(Event(at, "opened", "c3"), 3, "intro")]
    e = engagement(touches)
    assert (e.opened, e.clicked, e.opened_machine, e.clicked_machine) == (2, 0, 1, 1)
    assert e.clicked_by_link == {}


RULE = header() + """    stop on clicked where not event.machine as clicked_by_person

    step intro:
        send email "nurture"
    step next after 1 day:
        send email "nurture"
"""


def test_a_rule_sees_every_event_and_where_not_event_machine_keeps_people():
    start = [enroll("c1", "2026-11-24T10:00:00Z")]
    click = {"at": "2026-11-24T12:00:00Z", "type": "clicked", "contact": "c1", "step": "intro", "link": "x"}
    ended = {m: outcomes(run(RULE, C1, start + [dict(click, **({} if m is None else {"machine": m}))]))[0][2]
             for m in (True, False, None)}
    assert ended == {True: "completed", False: "clicked_by_person", None: "clicked_by_person"}
