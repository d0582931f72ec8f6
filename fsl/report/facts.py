"""What the report reads from a `Store`, indexed once.

The report works over the `Store` protocol only (fsl/engine/memstore.py), so
the memory store of a simulation and the SQL store of production give the
same figures.  It reads four streams -- enrollments, action records, events,
journal entries -- plus contacts, and joins them here:

* step runs: the journal's `executed` entries, each with the `deferred`
  entries of its enrollment that came before it (what held it, and since
  when it was due);
* engagement: each engagement event attributed to the (enrollment, step)
  whose message it concerns (see `attribute`).

Sections (compute.py, winback.py, execution.py) then only count.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from fsl.engine.model import ENDED, ActionRecord, Enrollment, Event, JournalEntry
from fsl.engine.memstore import Store

ENGAGEMENT = ("delivered", "opened", "clicked", "replied", "bounced", "unsubscribed")
TOUCHES = ("send", "task")  # what a contact (or the rep working on them) experiences
# the events that mark a task done (README.md): `task_done` (CONSOLE.md: the console's Done and
# `fsl tasks done`), and `task_completed`, which they wrote before and CRM hooks may still send
TASK_DONE = ("task_done", "task_completed")
_DEFERRED = re.compile(r"^deferred to \S+: (.*)$")


@dataclass(frozen=True)
class Period:
    """[since, until): either end open."""

    since: datetime | None = None
    until: datetime | None = None

    def holds(self, t: datetime | None) -> bool:
        if t is None:
            return False
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)


@dataclass(slots=True)
class StepRun:
    """One execution of a step (or of the rest of it after a `wait`)."""

    at: datetime
    enrollment: int
    step: str
    fresh: bool  # False: a segment resumed after a wait
    deferrals: list[tuple[datetime, str]] = field(default_factory=list)  # (when, cause)


@dataclass(slots=True)
class Touch:
    """An engagement event attributed to an enrollment (and the step whose message it concerns)."""

    event: Event
    enrollment: int
    step: str | None


def deferral_cause(reason: str) -> str:
    """window, holiday or cap, from the reason the engine journals
    (stepping.py: "deferred to T: outside the window" / "holiday: ..." / "cap: ...")."""
    m = _DEFERRED.match(reason)
    text = m.group(1) if m else reason
    for cause, prefix in (("window", "outside the window"), ("holiday", "holiday"), ("cap", "cap")):
        if text.startswith(prefix):
            return cause
    return "other"


class Facts:
    """The store, indexed for counting.  `as_of` is the instant the data runs
    up to: a task due after it is not overdue yet, an enrollment not ended by
    then is active."""

    def __init__(self, store: Store, as_of: datetime) -> None:
        self.store = store
        self.as_of = as_of
        self.enrollments: list[Enrollment] = sorted(store.enrollments(), key=lambda e: (e.started_at, e.id))
        self.by_id: dict[int, Enrollment] = {e.id: e for e in self.enrollments}
        self.by_contact: dict[str, list[Enrollment]] = {}
        for en in self.enrollments:
            self.by_contact.setdefault(en.contact, []).append(en)
        self.actions: dict[int, list[ActionRecord]] = {}
        self.sets: list[ActionRecord] = []  # `set` actions, whatever enrollment made them
        for a in sorted(store.actions(), key=lambda a: a.at):
            self.actions.setdefault(a.enrollment, []).append(a)
            if a.kind == "set":
                self.sets.append(a)
        # sends a channel accepted; None when the store delivers nothing (a simulation)
        accepted = getattr(store, "accepted_sends", None)
        self.accepted: set[tuple] | None = set(accepted()) if accepted is not None else None
        self.events: list[Event] = sorted(store.events(), key=lambda e: (e.at, e.seq))
        self._by_type: dict[tuple[str | None, str], list[Event]] = {}
        for e in self.events:
            self._by_type.setdefault((e.contact, e.type), []).append(e)
        journal = sorted(store.journal_entries(), key=lambda j: j.at)
        self.runs: dict[int, list[StepRun]] = _runs(journal)
        self.updates: list[JournalEntry] = [j for j in journal if j.kind == "update"]
        self.touches: dict[int, list[Touch]] = {}
        for e in self.events:
            if e.type in ENGAGEMENT:
                for t in self.attribute(e):
                    self.touches.setdefault(t.enrollment, []).append(t)

    # ----------------------------------------------------------- lookups
    def ended(self, en: Enrollment) -> bool:
        return en.status == ENDED and en.ended_at is not None and en.ended_at <= self.as_of

    def sends(self, en: Enrollment) -> list[ActionRecord]:
        return [a for a in self.actions.get(en.id, ()) if a.kind == "send"]

    def accepted_enrollments(self, sends: Iterable[ActionRecord]) -> int | None:
        """How many enrollments had one of these sends accepted by the channel
        (None when the store cannot tell)."""
        if self.accepted is None:
            return None
        return len({a.enrollment for a in sends if a.key in self.accepted})

    def contact_events(self, contact: str, type_: str) -> list[Event]:
        """The contact's events of one type, by time."""
        return self._by_type.get((contact, type_), [])

    def events_of_type(self, type_: str | tuple[str, ...]) -> list[Event]:
        types = (type_,) if isinstance(type_, str) else type_
        return [e for e in self.events if e.type in types]

    def running_at(self, contact: str, t: datetime) -> list[Enrollment]:
        """The contact's enrollments running at t (one that ends at t, say
        stopped by the very event, still counts)."""
        return [en for en in self.by_contact.get(contact, ())
                if en.started_at <= t and (en.ended_at is None or en.ended_at >= t)]

    def attribute(self, e: Event) -> list[Touch]:
        """The message an engagement event concerns.  The engine resolves an
        event naming a step to the enrollment that sent it (`enrollment`);
        an event naming none (or a message never sent) concerns every
        enrollment of the contact running then, and within each the step
        of the latest send at or before the event (last touch)."""
        if e.enrollment is not None and e.enrollment in self.by_id:
            return [Touch(e, e.enrollment, e.step)]
        if e.contact is None:
            return []
        out = []
        for en in self.running_at(e.contact, e.at):
            last = [a for a in self.sends(en) if a.at <= e.at]
            out.append(Touch(e, en.id, last[-1].step if last else None))
        return out


def _runs(journal: Iterable[JournalEntry]) -> dict[int, list[StepRun]]:
    """Step runs from the journal, each with the deferrals that held it."""
    runs: dict[int, list[StepRun]] = {}
    pending: dict[int, list[tuple[datetime, str]]] = {}
    for j in journal:
        if j.enrollment is None:
            continue
        if j.kind == "deferred":
            pending.setdefault(j.enrollment, []).append((j.at, deferral_cause(j.reason)))
        elif j.kind == "executed" and j.step is not None:
            fresh = "(resumed)" not in j.reason
            runs.setdefault(j.enrollment, []).append(StepRun(j.at, j.enrollment, j.step, fresh,
                                                             pending.pop(j.enrollment, [])))
        elif j.kind == "ended":
            pending.pop(j.enrollment, None)  # deferred, then stopped before running
    return runs


def plain_value(v: Any) -> str:
    """A `let` (or field) value as a segment label."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        from fsl.engine.timing import iso

        return iso(v) or "none"
    return str(v)
