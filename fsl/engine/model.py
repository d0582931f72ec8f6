"""The runtime's data: plain dataclasses, no behaviour beyond small helpers.

They are what a `Store` (store.py) keeps.  The memory store holds these
objects directly; a SQL store maps them to rows, so every field is a plain
value (str, int, datetime, dict of JSON-able values).  Instants are
timezone-aware UTC datetimes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Enrollment statuses.  `waiting` is inside a step (after `wait` / `wait up
# to ... for`); `paused` sleeps until `paused_until` (a pause rule).
ACTIVE, WAITING, PAUSED, ENDED = "active", "waiting", "paused", "ended"


@dataclass(slots=True)
class Contact:
    id: str
    fields: dict[str, Any]  # built-in and schema fields, `id` included
    version: int = 0  # bumped on every change, so cached time zones can be refreshed


@dataclass(slots=True)
class Deal:
    id: str
    fields: dict[str, Any]
    stakeholders: dict[str, dict[str, Any]] = field(default_factory=dict)  # contact id -> record


@dataclass(slots=True)
class Event:
    """Something that happened to a contact (or a deal).

    `step` names the message an engagement event concerns; the engine
    resolves it to `enrollment` (the enrollment that sent it).  `seq` keeps
    the arrival order of events at the same instant.
    """

    at: datetime
    type: str
    contact: str | None = None
    deal: str | None = None
    step: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    enrollment: int | None = None
    line: int | None = None  # where it came from (scenario file), for reports
    # Where a signal came from and why it was classified so (SIGNALS.md 5), and
    # the key that records it only once.  The engine never reads these: they
    # are carried to the event row for `fsl explain`.
    source: str | None = None
    evidence: tuple[str, ...] = ()
    dedup: str | None = None


@dataclass(slots=True)
class Enrollment:
    id: int
    playbook: str
    plan_hash: str
    contact: str
    deal: str | None
    started_at: datetime
    status: str = ACTIVE
    step: int = 0  # index of the step that is next (or in progress while waiting)
    # Where to resume inside the step after a wait: indexes through the body,
    # alternating (action index, chosen branch) down to the next action.
    resume: tuple[int, ...] | None = None
    repeat: int = 0  # executions of the current step since it was entered (`every ... max`)
    runs: dict[str, int] = field(default_factory=dict)  # executions per step name (idempotency keys)
    anchor: datetime | None = None  # the instant the previous step executed (or enrollment)
    due_at: datetime | None = None  # when the next step (or the rest of a step) is due
    vars: dict[str, Any] = field(default_factory=dict)
    offer: dict[str, Any] | None = None  # the offer attached within the current step
    paused_until: datetime | None = None
    wait_event: str | None = None  # `wait up to D for EVENT`: the event awaited
    wait_ordinal: int = -1  # that action's ordinal in the step (to find its `where`)
    wait_since: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    reason: str | None = None
    last_deferral: str | None = None  # the last deferral reason journaled (avoid repeats)
    variants: dict[str, str] = field(default_factory=dict)  # split -> the variant it took (v1.1)
    held_until: datetime | None = None  # (v1.1) `send at best time`: the hour chosen when the step became due


@dataclass(slots=True)
class ActionRecord:
    """One action the runtime decided on.  `key` is the idempotency key
    (enrollment, step, iteration, action index): a channel is handed an
    action at most once per key."""

    key: tuple[int, str, int, int]
    at: datetime
    enrollment: int
    contact: str
    deal: str | None
    playbook: str
    step: str
    kind: str  # send, task, notify, set
    channel: str | None = None  # send: the channel; task: its kind
    template: str | None = None
    offer: dict[str, Any] | None = None  # {"percent": P, "expires": datetime | None}
    to: Any = None
    text: str | None = None
    due: datetime | None = None  # task: due by
    data: dict[str, Any] | None = None  # set: {"path": [...], "value": V}
    line: int = 0


@dataclass(slots=True)
class JournalEntry:
    """One decision and its reason (`fsl explain` reads these)."""

    at: datetime
    kind: str  # enrolled, deferred, stopped, paused, resumed, ended, executed, branch, event, warning, ...
    reason: str
    enrollment: int | None = None
    contact: str | None = None
    playbook: str | None = None
    step: str | None = None
    line: int = 0


@dataclass(slots=True)
class SplitDecision:
    """(v1.1) the winner of a `split ... pick winner by`: recorded once, at the
    instant the sequential test first found it; later splits take it."""

    playbook: str
    split: str
    winner: str
    decided_at: datetime
    figures: dict[str, Any]  # the test's figures at that instant (sequential.Verdict.figures)
