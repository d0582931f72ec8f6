"""Machine engagement in the engine and the report (SIGNALS.md 1): `opened(...)`/`clicked(...)`
see people only, `count(opened, ...)` counts both, reports show both apart."""
from __future__ import annotations

from datetime import datetime, timezone

from fsl.engine.model import Event
from fsl.report.compute import engagement
from fsl.report.facts import Touch

from .test_engine import C1, acts, enroll, header, run

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
