"""Where the runtime keeps its state: the `Store` protocol and `MemoryStore`.

The engine talks to its state only through `Store`, so the simulator (this
module's `MemoryStore`) and the production runtime (`fsl/store/sqlstore.py`,
over SQLAlchemy: SQLite or PostgreSQL, against this same protocol) make the
same decisions from the same data.  Notes for the SQL store:

* `set_wake`/`pop_due` are a `wake_at` column on enrollments with an index on
  (wake_at, -priority, playbook, contact); `pop_due` is `SELECT ... WHERE
  wake_at <= :now ORDER BY ... LIMIT 1 FOR UPDATE SKIP LOCKED` so any number
  of workers share the work and a tick costs what is due, not what waits.
* `send_times` is a query over the action table (indexed by contact, deal and
  enrollment) for the interval a cap looks at; the memory store keeps sorted
  lists per scope instead.
* Every method is called inside the engine's batch; the SQL store commits one
  transaction per batch (RUNTIME.md section 5).
"""
from __future__ import annotations

import bisect
import heapq
from datetime import datetime
from typing import Any, Iterable, Iterator, Protocol, Sequence

from .model import ENDED, ActionRecord, Contact, Deal, Enrollment, Event, JournalEntry, SplitDecision

# A scope of send history a cap counts (channel None: every send):
#   ("contact", contact, channel)            global caps, per contact
#   ("playbook", playbook, contact, channel) a playbook's rolling caps
#   ("deal", playbook, deal, channel)        `across deal`
#   ("enrollment", enrollment, channel)      `total` caps
Scope = tuple


def send_scopes(rec: ActionRecord) -> list[Scope]:
    """The scopes an action counts in.  Sends count on their channel and in
    the all-sends scope; tasks and notifications only under their own kind
    (`task call` under "call", `notify` under "notify"), so they count toward
    no cap unless a cap names that kind as its channel (RUNTIME.md 3.3)."""
    if rec.kind not in ("send", "task", "notify"):
        return []
    channel = rec.channel if rec.kind != "notify" else "notify"
    channels: list[str | None] = [channel, None] if rec.kind == "send" else [channel]
    out: list[Scope] = []
    for ch in channels:
        out.append(("contact", rec.contact, ch))
        out.append(("playbook", rec.playbook, rec.contact, ch))
        if rec.deal is not None:
            out.append(("deal", rec.playbook, rec.deal, ch))
        out.append(("enrollment", rec.enrollment, ch))
    return out


class Store(Protocol):
    """Everything the engine reads and writes."""

    # contacts and deals
    def put_contact(self, contact: Contact) -> None: ...
    # many at once (imports); `new`: none is stored yet, else a SQL store raises IntegrityError;
    # `texts`: their fields as a SQL store's codec writes them, when the caller has them
    def put_contacts(self, batch: list[Contact], new: bool = False, texts: list[str] | None = None) -> None: ...
    def get_contact(self, contact_id: str) -> Contact | None: ...
    def contact_ids(self) -> list[str]: ...
    def put_deal(self, deal: Deal) -> None: ...
    def get_deal(self, deal_id: str) -> Deal | None: ...
    def deals_of(self, contact_id: str) -> list[str]: ...
    def links(self) -> list[tuple[str, str]]: ...  # (contact, deal), sorted

    # events
    def add_event(self, event: Event) -> None: ...
    def event_failed(self, event: Event) -> None: ...  # applying it raised: kept (added if not yet), flagged
    def contact_events(self, contact_id: str, type_: str) -> Sequence[Event]: ...  # sorted by time
    def enrollment_events(self, enrollment_id: int) -> Sequence[Event]: ...
    def events(self) -> Iterable[Event]: ...
    # (v1.1) human engagement by local hour (engine/besttime.py), maintained as events arrive
    def add_engagement(self, contact_id: str, hour: int) -> None: ...
    def engagement(self, contact_id: str) -> tuple[Sequence[int], Sequence[int]]: ...  # (contact's, project's)

    # enrollments and their wake-up schedule
    def new_enrollment_id(self) -> int: ...
    def add_enrollment(self, en: Enrollment) -> None: ...
    def get_enrollment(self, enrollment_id: int) -> Enrollment | None: ...
    def ended(self, en: Enrollment) -> None: ...  # an enrollment has just ended
    def active_enrollment(self, contact_id: str, playbook: str) -> Enrollment | None: ...
    def latest_enrollment(self, contact_id: str, playbook: str) -> Enrollment | None: ...
    def contact_enrollments(self, contact_id: str) -> list[Enrollment]: ...  # not ended
    def deal_enrollments(self, deal_id: str, playbook: str) -> list[Enrollment]: ...  # not ended
    def enrollments(self) -> Iterable[Enrollment]: ...
    def set_wake(self, enrollment_id: int, at: datetime | None, order: tuple) -> None: ...
    def next_wake(self) -> datetime | None: ...
    def pop_due(self, now: datetime) -> Enrollment | None: ...

    # `enroll when` checks
    def set_check(self, key: tuple, at: datetime | None, order: tuple) -> None: ...
    def next_check(self) -> datetime | None: ...
    def pop_check(self, now: datetime) -> tuple[datetime, tuple] | None: ...

    # actions, messages, caps
    def add_action(self, rec: ActionRecord) -> None: ...
    def actions(self) -> Iterable[ActionRecord]: ...
    def send_times(self, scope: Scope) -> Sequence[datetime]: ...  # sorted
    def message(self, contact_id: str, step: str, before: datetime) -> ActionRecord | None: ...

    # experiments (v1.1): a split's sends (those of its step; the record's data names the
    # split and variant), and the winners `pick winner by` recorded (first one wins)
    def split_sends(self, playbook: str, step: str) -> Sequence[ActionRecord]: ...
    def split_decision(self, playbook: str, split: str) -> SplitDecision | None: ...
    def record_split_decision(self, decision: SplitDecision) -> None: ...
    def split_decisions(self) -> list[SplitDecision]: ...

    # journal
    def journal(self, entry: JournalEntry) -> None: ...
    def journal_entries(self) -> Iterable[JournalEntry]: ...

    # outbox: a stop or pause rule cancels the enrollment's messages not yet
    # handed to a channel (the memory store has no outbox: nothing to do)
    def cancel_pending(self, enrollment_id: int, reason: str) -> None: ...

    # addresses that bounced hard (suppression.py): normalized address -> (since, why)
    def suppress_address(self, address: str, at: datetime, reason: str, contact: str | None) -> None: ...
    def address_suppression(self, address: str) -> tuple[datetime, str] | None: ...
    def has_suppressed_addresses(self) -> bool: ...


class _Heap:
    """A min-heap of (at, order, key) with lazy deletion: the current entry
    of each key lives in `current`; stale heap entries are skipped."""

    def __init__(self) -> None:
        self.heap: list[tuple[datetime, tuple, Any]] = []
        self.current: dict[Any, tuple[datetime, tuple]] = {}

    def set(self, key: Any, at: datetime | None, order: tuple) -> None:
        if at is None:
            self.current.pop(key, None)
            return
        if self.current.get(key) == (at, order):
            return
        self.current[key] = (at, order)
        heapq.heappush(self.heap, (at, order, key))

    def _clean(self) -> None:
        heap, current = self.heap, self.current
        while heap:
            at, order, key = heap[0]
            if current.get(key) == (at, order):
                return
            heapq.heappop(heap)

    def first(self) -> datetime | None:
        self._clean()
        return self.heap[0][0] if self.heap else None

    def pop(self, now: datetime) -> tuple[datetime, Any] | None:
        self._clean()
        if not self.heap or self.heap[0][0] > now:
            return None
        at, _, key = heapq.heappop(self.heap)
        del self.current[key]
        return at, key


_NO_HOURS = (0,) * 24


class MemoryStore:
    """The store of the simulator and of tests: dicts plus the indexes that
    keep every engine query proportional to its answer."""

    def __init__(self) -> None:
        self._contacts: dict[str, Contact] = {}
        self._deals: dict[str, Deal] = {}
        self._deals_of: dict[str, list[str]] = {}
        self._events: list[Event] = []
        self._by_contact: dict[tuple[str, str], list[Event]] = {}
        self._by_enrollment: dict[int, list[Event]] = {}
        self._enrollments: dict[int, Enrollment] = {}
        self._active: dict[tuple[str, str], Enrollment] = {}
        self._latest: dict[tuple[str, str], Enrollment] = {}
        self._open_by_contact: dict[str, dict[int, Enrollment]] = {}
        self._open_by_deal: dict[tuple[str, str], dict[int, Enrollment]] = {}
        self._wake = _Heap()
        self._checks = _Heap()
        self._actions: list[ActionRecord] = []
        self._keys: set[tuple] = set()
        self._sends: dict[Scope, tuple[datetime, ...]] = {}
        self._messages: dict[tuple[str, str], list[ActionRecord]] = {}
        self._split_sends: dict[tuple[str, str], list[ActionRecord]] = {}
        self._decisions: dict[tuple[str, str], SplitDecision] = {}
        self._journal: list[JournalEntry] = []
        self._suppressed: dict[str, tuple[datetime, str]] = {}
        self._next_id = 0
        self._engaged: dict[str, list[int]] = {}  # contact -> human engagements per local hour
        self._engaged_all = [0] * 24  # the project's

    # contacts and deals --------------------------------------------------
    def put_contact(self, contact: Contact) -> None:
        self._contacts[contact.id] = contact

    def put_contacts(self, batch: list[Contact], new: bool = False, texts: list[str] | None = None) -> None:
        for contact in batch:
            self._contacts[contact.id] = contact

    def get_contact(self, contact_id: str) -> Contact | None:
        return self._contacts.get(contact_id)

    def contact_ids(self) -> list[str]:
        return sorted(self._contacts)

    def put_deal(self, deal: Deal) -> None:
        old = self._deals.get(deal.id)
        if old is not None:
            for cid in old.stakeholders:
                self._deals_of.get(cid, []).remove(deal.id)
        self._deals[deal.id] = deal
        for cid in deal.stakeholders:
            self._deals_of.setdefault(cid, []).append(deal.id)

    def get_deal(self, deal_id: str) -> Deal | None:
        return self._deals.get(deal_id)

    def deals_of(self, contact_id: str) -> list[str]:
        return sorted(self._deals_of.get(contact_id, ()))

    def links(self) -> list[tuple[str, str]]:
        return sorted((cid, d.id) for d in self._deals.values() for cid in d.stakeholders)

    # events --------------------------------------------------------------
    def add_event(self, event: Event) -> None:
        self._events.append(event)
        if event.contact is not None:
            lst = self._by_contact.setdefault((event.contact, event.type), [])
            if lst and lst[-1].at > event.at:
                bisect.insort(lst, event, key=lambda e: e.at)
            else:
                lst.append(event)
        if event.enrollment is not None:
            self._by_enrollment.setdefault(event.enrollment, []).append(event)

    def event_failed(self, event: Event) -> None:
        if not any(e is event for e in reversed(self._events)):
            self.add_event(event)

    def contact_events(self, contact_id: str, type_: str) -> Sequence[Event]:
        return self._by_contact.get((contact_id, type_), ())

    def enrollment_events(self, enrollment_id: int) -> Sequence[Event]:
        return self._by_enrollment.get(enrollment_id, ())

    def events(self) -> Iterable[Event]:
        return iter(self._events)

    def add_engagement(self, contact_id: str, hour: int) -> None:
        self._engaged.setdefault(contact_id, [0] * 24)[hour] += 1
        self._engaged_all[hour] += 1

    def engagement(self, contact_id: str) -> tuple[Sequence[int], Sequence[int]]:
        return self._engaged.get(contact_id, _NO_HOURS), self._engaged_all

    # enrollments -----------------------------------------------------------
    def new_enrollment_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_enrollment(self, en: Enrollment) -> None:
        self._enrollments[en.id] = en
        key = (en.contact, en.playbook)
        self._latest[key] = en
        if en.status != ENDED:
            self._active[key] = en
            self._open_by_contact.setdefault(en.contact, {})[en.id] = en
            if en.deal is not None:
                self._open_by_deal.setdefault((en.deal, en.playbook), {})[en.id] = en

    def get_enrollment(self, enrollment_id: int) -> Enrollment | None:
        return self._enrollments.get(enrollment_id)

    def ended(self, en: Enrollment) -> None:
        key = (en.contact, en.playbook)
        if self._active.get(key) is en:
            del self._active[key]
        self._open_by_contact.get(en.contact, {}).pop(en.id, None)
        if en.deal is not None:
            self._open_by_deal.get((en.deal, en.playbook), {}).pop(en.id, None)
        self._wake.set(en.id, None, ())

    def active_enrollment(self, contact_id: str, playbook: str) -> Enrollment | None:
        return self._active.get((contact_id, playbook))

    def latest_enrollment(self, contact_id: str, playbook: str) -> Enrollment | None:
        return self._latest.get((contact_id, playbook))

    def contact_enrollments(self, contact_id: str) -> list[Enrollment]:
        return list(self._open_by_contact.get(contact_id, {}).values())

    def deal_enrollments(self, deal_id: str, playbook: str) -> list[Enrollment]:
        return list(self._open_by_deal.get((deal_id, playbook), {}).values())

    def enrollments(self) -> Iterable[Enrollment]:
        return iter(self._enrollments.values())

    def set_wake(self, enrollment_id: int, at: datetime | None, order: tuple) -> None:
        self._wake.set(enrollment_id, at, order)

    def next_wake(self) -> datetime | None:
        return self._wake.first()

    def pop_due(self, now: datetime) -> Enrollment | None:
        got = self._wake.pop(now)
        return None if got is None else self._enrollments[got[1]]

    # enroll-when checks ----------------------------------------------------
    def set_check(self, key: tuple, at: datetime | None, order: tuple) -> None:
        self._checks.set(key, at, order)

    def next_check(self) -> datetime | None:
        return self._checks.first()

    def pop_check(self, now: datetime) -> tuple[datetime, tuple] | None:
        return self._checks.pop(now)

    # actions ---------------------------------------------------------------
    def add_action(self, rec: ActionRecord) -> None:
        if rec.key in self._keys:  # idempotency: one record per key
            return
        self._keys.add(rec.key)
        self._actions.append(rec)
        # Kept as tuples of datetimes: a few sends per scope, and a tuple of
        # atoms is not tracked by the garbage collector (a list would be, and
        # there are several per contact).
        sends, at = self._sends, rec.at
        for scope in send_scopes(rec):
            times = sends.get(scope)
            if times is None:
                sends[scope] = (at,)
            elif times[-1] > at:
                i = bisect.bisect_right(times, at)
                sends[scope] = times[:i] + (at,) + times[i:]
            else:
                sends[scope] = times + (at,)
        if rec.kind == "send":
            self._messages.setdefault((rec.contact, rec.step), []).append(rec)
            if rec.data and "split" in rec.data:
                self._split_sends.setdefault((rec.playbook, rec.step), []).append(rec)

    def actions(self) -> Iterable[ActionRecord]:
        return iter(self._actions)

    def send_times(self, scope: Scope) -> Sequence[datetime]:
        return self._sends.get(scope, ())

    def message(self, contact_id: str, step: str, before: datetime) -> ActionRecord | None:
        """The latest message sent to the contact by a step of that name, at
        or before `before` (which enrollment an engagement event concerns)."""
        best = None
        for rec in self._messages.get((contact_id, step), ()):
            if rec.at <= before:
                best = rec
        return best

    # experiments -----------------------------------------------------------
    def split_sends(self, playbook: str, step: str) -> Sequence[ActionRecord]:
        return self._split_sends.get((playbook, step), ())

    def split_decision(self, playbook: str, split: str) -> SplitDecision | None:
        return self._decisions.get((playbook, split))

    def record_split_decision(self, decision: SplitDecision) -> None:
        self._decisions.setdefault((decision.playbook, decision.split), decision)

    def split_decisions(self) -> list[SplitDecision]:
        return sorted(self._decisions.values(), key=lambda d: (d.playbook, d.split))

    # journal ---------------------------------------------------------------
    def journal(self, entry: JournalEntry) -> None:
        self._journal.append(entry)

    def journal_entries(self) -> Iterator[JournalEntry]:
        return iter(self._journal)

    # outbox -----------------------------------------------------------------
    def cancel_pending(self, enrollment_id: int, reason: str) -> None:
        """The simulator hands nothing to channels, so nothing is pending."""

    # suppressed addresses ----------------------------------------------------
    def suppress_address(self, address: str, at: datetime, reason: str, contact: str | None) -> None:
        self._suppressed.setdefault(address, (at, reason))

    def address_suppression(self, address: str) -> tuple[datetime, str] | None:
        return self._suppressed.get(address)

    def has_suppressed_addresses(self) -> bool:
        return bool(self._suppressed)
