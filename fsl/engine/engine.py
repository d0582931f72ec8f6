"""The engine: one loop for the simulator and the production runtime.

`Engine(plans, config, store, clock)` keeps no state of its own beyond caches
and the queue of events not yet ingested: everything it decides goes to the
store.  Time only moves through `run_until(instant)` (or `tick(now)`), which
visits the interesting instants in order -- the next event, the next due
enrollment, the next `enroll when` check -- and never walks minute by minute.
At each instant T (RUNTIME.md section 3):

1. events of T's minute are ingested (stop/pause rules, waits, enroll on),
   so a reply at 10:00 stops a step due at 10:00;
2. `enroll when` checks due at T run;
3. enrollments due at or before T wake, in the same-instant order: higher
   playbook priority first, then playbook name, then contact id.

The pieces: stepping.py (a due enrollment: window, caps, stop when, execute),
ingest.py (an event), enrolling.py (enroll on / enroll when / reenroll).
"""
from __future__ import annotations

import bisect
import heapq
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from fsl.compiler.plan import Plan

from .enrolling import after_end, recheck, run_checks, schedule_candidate, start_checks
from .errors import error_text
from .evaluate import Ctx, Dur
from .gcpolicy import run_collections
from .ingest import apply_event, count_engagement
from .model import ENDED, PAUSED, Contact, Deal, Enrollment, Event, JournalEntry
from .experiments import Chooser
from .program import Cap, Program, Split, build
from .stepping import wake
from .suppression import hard_bounce, opts_out
from .memstore import MemoryStore, Store
from .timing import iso, minute_floor

UTC = timezone.utc

# A step that runs more often than this at one instant is in a loop with no
# delay (the checker reports those as E302); the enrollment fails instead of
# hanging the runtime.
MAX_RUNS_PER_INSTANT = 200


class Services:
    """What expressions ask of the store: engagement of this enrollment's
    messages, and the contact's event history (count, last)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.splits = Chooser(store)

    def split_choice(self, ctx: Ctx, split: Split) -> tuple[int, str]:
        """(v1.1) the variant an enrollment that has none takes, and why."""
        return self.splits.choose(ctx.enrollment.playbook, split, ctx.enrollment.contact, ctx.now)

    def engaged(self, ctx: Ctx, kind: str, step: str | None, link: str | None) -> bool:
        # `opened(...)` and `clicked(...)` see people only: a scanner's or a privacy proxy's fetch
        # (field `machine` true) is no engagement; `count(opened, ...)` counts both (SIGNALS.md 1)
        now = ctx.now
        for e in self.store.enrollment_events(ctx.enrollment.id):
            if e.type == kind and e.at <= now and (step is None or e.step == step) \
                    and (link is None or e.fields.get("link") == link) and e.fields.get("machine") is not True:
                return True
        return False

    def count(self, ctx: Ctx, event: str, since: datetime | None) -> int:
        evs = self.store.contact_events(ctx.contact.id, event)
        hi = bisect.bisect_right(evs, ctx.now, key=_at)
        lo = bisect.bisect_right(evs, since, key=_at) if since is not None else 0
        return max(hi - lo, 0)

    def last(self, ctx: Ctx, event: str) -> datetime | None:
        evs = self.store.contact_events(ctx.contact.id, event)
        hi = bisect.bisect_right(evs, ctx.now, key=_at)
        return evs[hi - 1].at if hi else None


def _at(e: Event) -> datetime:
    return e.at


class Engine:
    def __init__(self, plans: Iterable[Plan], config: Any = None, store: Store | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock
        project_zone = getattr(config, "timezone", None)
        self.by_hash: dict[str, Program] = {}
        self.programs: dict[str, Program] = {}
        for plan in plans:
            prog = build(plan, project_zone)
            self.programs[prog.name] = prog
            self.by_hash[prog.hash or prog.name] = prog
        self.ordered = sorted(self.programs.values(), key=lambda p: p.order)
        # the event types a `stop on` / `pause on` rule of some deployed plan (any version a
        # running enrollment may hold) acts on: such an event is applied the moment it arrives
        self.stopping_types = frozenset(t for prog in self.by_hash.values() for t in (*prog.stop_on, *prog.pause_on))
        self.global_caps = [Cap(c.channel, c.limit, Dur(c.per.amount, c.per.unit) if c.per is not None else None,
                                False, 0, "contact", getattr(c, "calendar", None))
                            for c in getattr(config, "caps", None) or []]
        self.services = Services(self.store)
        self.warnings: list[tuple[datetime, str, int | None]] = []
        self.now: datetime | None = None
        self.checks_done = False  # at the current instant: are `enroll when` checks over?
        self.started = False
        self._pending: list[tuple[datetime, int, Event]] = []
        self._seq = 0
        self._zones: dict[int, tuple[int, Any, Any]] = {}  # enrollment -> (contact version, zone, holidays)
        self._runs: dict[int, int] = {}  # executions per enrollment at the current instant

    # ------------------------------------------------------------------ data
    def add_contact(self, contact: Contact) -> None:
        self.store.put_contact(contact)
        if self.started and self.now is not None:  # (starting sets now)
            schedule_candidate(self, contact.id, None, self.now)

    def add_contacts(self, batch: list[Contact], new: bool = False, texts: list[str] | None = None) -> None:
        """add_contact for many: one write for the batch (an import's chunk);
        `new` and `texts` as the store's put_contacts takes them."""
        self.store.put_contacts(batch, new, texts)
        now = self.now
        enrolling = any(prog.enroll_when is not None for prog in self.ordered)  # (else nothing to schedule)
        if self.started and now is not None and enrolling:  # (starting sets now)
            for contact in batch:
                schedule_candidate(self, contact.id, None, now)

    def add_deal(self, deal: Deal) -> None:
        self.store.put_deal(deal)
        now = self.now
        if self.started and now is not None:  # (starting sets now)
            for cid in deal.stakeholders:
                schedule_candidate(self, cid, deal.id, now)

    def ingest(self, event: Event) -> None:
        """Queue an event; it is applied when the clock reaches its minute.
        An event arriving late (before the instant already processed) keeps
        its own instant but is applied now: time never runs backwards."""
        event.at = minute_floor(event.at)
        self._seq += 1
        event.seq = self._seq
        when = event.at if self.now is None or not self.started or event.at >= self.now else self.now
        heapq.heappush(self._pending, (when, self._seq, event))

    def record_history(self, event: Event) -> None:
        """An event from before the clock started: known to count() and
        last(), but it triggers nothing."""
        event.at = minute_floor(event.at)
        self.store.add_event(event)
        count_engagement(self, event)  # a habit is learned from history too

    # ------------------------------------------------------------------ time
    def start(self, at: datetime) -> None:
        """Start the clock: schedule the first `enroll when` checks."""
        self.now = at
        if not self.started:
            self.started = True
            start_checks(self, at)

    def next_instant(self) -> datetime | None:
        times = [t for t in (self._pending[0][0] if self._pending else None,
                             self.store.next_wake(), self.store.next_check()) if t is not None]
        return min(times) if times else None

    def run_until(self, until: datetime, inclusive: bool = True) -> None:
        """Process every instant up to `until` (or just before it)."""
        if not self.started:
            self.start(min(until, self.next_instant() or until))
        with run_collections():
            while True:
                t = self.next_instant()
                if t is None or t > until or (t == until and not inclusive):
                    break
                self.process(t)
        self.now = until

    def tick(self, now: datetime | None = None) -> None:
        """One production pass: everything due at or before now."""
        if now is None:
            if self.clock is None:
                raise ValueError("Engine.tick: no instant given and the engine has no clock")
            now = self.clock()
        self.run_until(now)

    def process(self, t: datetime) -> None:
        self.begin_instant(t)
        while self._pending and self._pending[0][0] <= t:
            self.apply_event(heapq.heappop(self._pending)[2])
        run_checks(self, t)
        self.checks_done = True
        self.wake_due(t)

    # The three phases of an instant, callable one by one: the production
    # tick (fsl/runtime/runtime.py) runs each phase in batches, one transaction
    # per batch, and feeds the events itself.
    def begin_instant(self, t: datetime) -> None:
        """Enter instant t: checks not run yet, loop counters reset."""
        self.now = t
        self.checks_done = False
        self._runs = {}

    def apply_event(self, event: Event) -> None:
        """Apply one event now (its own instant is kept).  An event whose
        processing raises (data no rule can evaluate) is kept, flagged and
        journaled; the others go on: one record never stops the runtime."""
        try:
            apply_event(self, event)
        except Exception as exc:  # noqa: BLE001 - isolated, recorded, reported
            self.warn(event.at, f"event {event.type} could not be applied ({error_text(exc)}): kept, not acted on",
                      event.line, event.contact)
            self.store.event_failed(event)

    def acts_at_once(self, event: Event) -> bool:
        """Whether `event` must be applied when it arrives rather than by the next tick: a
        stop or pause rule may act on it, or it suppresses (an opt-out, a hard bounce), and
        SIGNALS.md wants those done before its source has its answer.  Anything else an
        event does (enrolling, ending a wait, branch and `stop when` conditions, best-time
        counts) the next tick's event phase does the same way, before any step it affects."""
        return event.type in self.stopping_types or opts_out(event) or hard_bounce(event)

    def wake_due(self, t: datetime) -> None:
        """Wake every enrollment the store says is due at or before t."""
        runs = self._runs
        while (en := self.store.pop_due(t)) is not None:
            runs[en.id] = n = runs.get(en.id, 0) + 1
            if n > MAX_RUNS_PER_INSTANT:
                self.end(en, "failed", t, f"ran {n} times at one instant: a loop with no delay")
                continue
            try:
                wake(self, en, t)
            except Exception as exc:  # noqa: BLE001 - an error the enrollment cannot get past
                self.fail(en, t, exc)

    def resume(self, at: datetime) -> None:
        """Continue a clock started earlier (production: the store already
        holds the `enroll when` schedule, so nothing is scheduled again)."""
        self.now = at
        self.started = True

    def cancel_outbox(self, en: Enrollment, reason: str) -> None:
        """A stop or pause rule acted: the enrollment's messages not yet
        handed to a channel are cancelled (RUNTIME.md section 4)."""
        self.store.cancel_pending(en.id, reason)

    # --------------------------------------------------------------- helpers
    def program(self, en: Enrollment) -> Program:
        return self.by_hash[en.plan_hash]

    def order(self, en: Enrollment) -> tuple:
        prog = self.by_hash[en.plan_hash]
        return (*prog.order, en.contact, en.id)

    def schedule(self, en: Enrollment, at: datetime | None) -> None:
        self.store.set_wake(en.id, at, self.order(en) if at is not None else ())

    def ctx(self, en: Enrollment, now: datetime, event: Event | None = None) -> Ctx:
        """The evaluation context of an enrollment, in its contact's zone."""
        prog = self.by_hash[en.plan_hash]
        contact = self.store.get_contact(en.contact)
        deal = self.store.get_deal(en.deal) if en.deal is not None else None
        stake = deal.stakeholders.get(en.contact) if deal is not None else None
        ctx = Ctx(now, contact, deal, stake, event, en, None, self.services, prog.lets, prog.holidays)
        if not prog.zone_by_contact:  # read from the deal or an event: no version says when it changed
            ctx.zone = prog.zone(ctx)
            ctx.holidays = prog.calendar(ctx)[0]
            return ctx
        version = contact.version if contact is not None else -1
        cached = self._zones.get(en.id)
        if cached is not None and cached[0] == version:
            ctx.zone, ctx.holidays = cached[1], cached[2]
        else:
            ctx.zone = prog.zone(ctx)
            ctx.holidays = prog.calendar(ctx)[0]
            self._zones[en.id] = (version, ctx.zone, ctx.holidays)
        return ctx

    def candidate_ctx(self, prog: Program, contact: Contact, deal: Deal | None, now: datetime,
                      event: Event | None = None) -> Ctx:
        """The context of a contact (and deal) that is not enrolled yet."""
        stake = deal.stakeholders.get(contact.id) if deal is not None else None
        ctx = Ctx(now, contact, deal, stake, event, None, None, self.services, prog.lets, prog.holidays)
        ctx.zone = prog.zone(ctx)
        if prog.holidays_expr is not None:
            ctx.holidays = prog.calendar(ctx)[0]
        return ctx

    def touched(self, contact_id: str) -> None:
        """A contact's data changed: data-driven `enroll when`s look again."""
        recheck(self, contact_id)

    def end(self, en: Enrollment, outcome: str, at: datetime, reason: str, line: int = 0,
            step: str | None = None) -> None:
        if en.status == ENDED:
            return
        en.status, en.ended_at, en.outcome, en.reason = ENDED, at, outcome, reason
        en.paused_until = None
        en.wait_event = None
        self.store.ended(en)
        self._zones.pop(en.id, None)
        self.note(at, "ended", f"ended as {outcome}: {reason}", en, line=line, step=step)
        after_end(self, en)

    def fail(self, en: Enrollment, at: datetime, exc: Exception) -> None:
        """End an enrollment whose processing raised, the error in its journal."""
        try:
            self.end(en, "failed", at, f"error: {error_text(exc)}")
        except Exception:  # noqa: BLE001 - ending looks at data too (after_end): it is ended all the same
            pass

    def pause(self, en: Enrollment, until: datetime, at: datetime, reason: str, line: int) -> None:
        if en.status == PAUSED and en.paused_until is not None and en.paused_until >= until:
            return
        en.status, en.paused_until = PAUSED, until
        self.schedule(en, until)
        self.note(at, "paused", f"paused until {iso(until)}: {reason}", en, line=line)

    # --------------------------------------------------------------- journal
    def note(self, at: datetime, kind: str, reason: str, en: Enrollment | None = None, *,
             contact: str | None = None, playbook: str | None = None, step: str | None = None,
             line: int = 0) -> None:
        if en is not None:
            contact, playbook = en.contact, en.playbook
            if step is None:
                prog = self.by_hash.get(en.plan_hash)
                if prog is not None and en.step < len(prog.steps):
                    step = prog.steps[en.step].name
        self.store.journal(JournalEntry(at, kind, reason, en.id if en is not None else None,
                                        contact, playbook, step, line))

    def warn(self, at: datetime, message: str, line: int | None = None, contact: str | None = None,
             en: Enrollment | None = None, step: str | None = None) -> None:
        self.warnings.append((at, message, line))
        self.note(at, "warning", message, en, contact=contact, step=step, line=line or 0)
