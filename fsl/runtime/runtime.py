"""The production runtime: a project's config, templates and store, and the tick.

`Runtime.open(config_path)` finds the project (fsl.yaml), opens its store
(`store:`, or the FSL_STORE environment variable) and builds the engine from
the plans registered by `fsl deploy`.  `Runtime.tick(now)` is one pass
(RUNTIME.md section 6):

    for each interesting instant t <= now, in order (the next pending event,
    wake-up or `enroll when` check; never earlier than the store's clock):
        1. pending events of t's minute or before     } each phase in batches
        2. `enroll when` checks due at t              } of `batch_size`, one
        3. enrollments due at or before t             } transaction per batch
    then the outbox is delivered (outbox.py).

A batch is: BEGIN IMMEDIATE; claim the next rows from their index; prefetch
what the engine will read; run the engine's own logic (fsl/engine) on the
working set; write every change back; COMMIT (fsl/store/sqlstore.py).  The
engine is the simulator's, unchanged: same store state, same events, same
clock, same decisions.

On PostgreSQL any number of workers tick the same store at once: the tick
runs inside `db.sharing()`, its claims skip what other workers hold, and a
batch PostgreSQL aborts as a deadlock (two batches locking extra contacts in
opposite orders) is simply redone (fsl/store/lease.py).

The data API used by `fsl contacts/deals/events import`, `fsl event` and
`fsl enroll` is here too (`put_contacts`, `put_deals`, `record_events`,
`enroll`), so that imports schedule `enroll when` checks like the engine
does.
"""
from __future__ import annotations

import itertools
import json
import operator
import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import sqlalchemy as sa

from fsl.config import Config
from fsl.engine.engine import Engine
from fsl.engine.enrolling import run_checks, try_enroll
from fsl.engine.model import Contact, Deal, Enrollment, Event
from fsl.engine.timing import iso, minute_floor
from fsl.engine.gcpolicy import batch_collections
from fsl.engine.besttime import human_engagement
from fsl.engine.ingest import count_engagement
from fsl.store import Database, SqlStore, StoreError, open_store
from fsl.store import plans as registry
from fsl.store.codec import epoch, instant
from fsl.store.rows import event_row
from fsl.store import bulk, lease
from fsl.store.db import insert_ignore
from fsl.store.schema import checks, enrollments, events, meta, ticks
from fsl.templates import TemplateStore

from . import quarantine
from .host import TickReport
from .outbox import Outbox
from .settling import Item
from .withdrawal import await_withdrawn

UTC = timezone.utc
BATCH = 500
IMPORT_CHUNK = 5000  # contacts written per transaction by put_contacts


class OpsError(Exception):
    """A runtime command cannot run (no project, bad store, ...): exit 2."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Runtime:
    """See the module docstring.  `adapters` overrides channels by name (the
    demo's .eml sink, the benchmark's recorder); `llm_placeholder` renders
    `renderer: llm` templates from their prompt when no model is configured
    (the demo only).  `delivery` says where a delivering tick renders and
    hands over: "auto" (in-process, and in a delivery process of its own
    when the tick is large: outbox.START_AFTER), "inline" (say, with as many
    workers as cores) or "process" (from the first batch; tests); default:
    the FSL_DELIVERY environment variable, else "auto"."""

    def __init__(self, config: Config, db: Database, templates: TemplateStore | None = None, *,
                 batch_size: int = BATCH, adapters: dict[str, Any] | None = None,
                 llm_placeholder: bool = False, delivery: str | None = None) -> None:
        delivery = delivery or os.environ.get("FSL_DELIVERY") or "auto"
        if delivery not in ("auto", "inline", "process"):
            raise OpsError(f"delivery must be auto, inline or process, not {delivery!r} (FSL_DELIVERY)")
        self.delivery = delivery
        self.config = config
        self.db = db
        self.templates = templates if templates is not None else TemplateStore(config.templates)
        self.batch_size = batch_size
        self.adapters = adapters or {}
        self.llm_placeholder = llm_placeholder
        self.store = SqlStore(db, rank_of=self._rank)
        self._engine: Engine | None = None
        self._version: int | None = None
        self._outbox: Any = None  # the delivering tick's outbox (outbox.Outbox)
        self.cap_span: timedelta | None = None

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, config_path: str | Path | None = None, *, store_url: str | None = None,
             create: bool = True, project: Any = None, **kwargs: Any) -> "Runtime":
        """`project`: the fsl.project.Project of `config_path` when the caller has loaded it already."""
        from fsl.diagnostics.emit import emit
        from fsl.project import Project

        project = project if project is not None else Project.load(config_path, Path.cwd())
        if project.config_diags:
            raise OpsError("the project file has errors:\n" + emit("text", project.config_diags, {}, 0).rstrip())
        if project.config is None:
            where = f"{config_path}" if config_path else f"{Path.cwd()} or any folder above it"
            raise OpsError(f"no fsl.yaml found in {where}; pass --config PATH")
        url = store_url or os.environ.get("FSL_STORE") or project.config.store
        try:
            db = open_store(url, create=create)
        except StoreError as exc:
            raise OpsError(str(exc)) from None
        return cls(project.config, db, project.templates, **kwargs)

    def close(self) -> None:
        self.db.dispose()

    # ------------------------------------------------------------ the engine
    def engine(self) -> Engine:
        """The engine over every registered plan; rebuilt when a deploy changed them."""
        return self._engine_and_clock()[0]

    def _engine_and_clock(self, conn: sa.Connection | None = None) -> tuple[Engine, datetime | None]:
        """The engine (`engine`) and the store's clock (`clock`), read in one transaction
        (`conn`'s, when given: `fsl serve` asks for both at every commit)."""
        if conn is None:
            with self.db.read() as own:
                return self._engine_and_clock(own)
        values = registry.get_metas(conn, ("plans_version", "clock"))
        version, clock = int(values.get("plans_version") or 0), values.get("clock")
        if self._engine is None or version != self._version:
            engine = Engine([r.plan for r in registry.load_all(conn)], self.config, self.store)
            self._engine, self._version = engine, version
            self._configure(engine)
        assert self._engine is not None
        return self._engine, instant(int(clock)) if clock else None

    def _rank(self, en: Enrollment) -> int:
        prog = self._engine.by_hash.get(en.plan_hash) if self._engine is not None else None
        return -prog.priority if prog is not None else 0

    def _configure(self, engine: Engine) -> None:
        """What batches prefetch, and how far back rolling caps look."""
        progs = list(engine.by_hash.values())
        rolling = [c for p in progs for c in p.caps_rolling] + list(engine.global_caps)
        self.store.prefetch_sources = {
            "c": bool(rolling),
            "e": any(p.caps_total for p in progs),
            "d": any(c.scope == "deal" for c in rolling),
        }
        self.store.prefetch_engagement = any(p.best_within is not None for p in progs)
        # a calendar cap (v1.1) looks back to its period's start: at most a week or a month
        reach = {"week": 7 * 86400, "month": 31 * 86400}
        longest = max((reach[c.calendar] if c.calendar else c.per.seconds if c.per is not None else 0
                       for c in rolling), default=0)
        # calendar-local days (DST) and business days (weekends, holidays) can
        # stretch a window: twice its nominal length plus a week is ample.
        self.cap_span = timedelta(seconds=2 * longest) + timedelta(days=8) if longest else None

    def clock(self) -> datetime | None:
        with self.db.read() as conn:
            value = registry.get_meta(conn, "clock")
        return instant(int(value)) if value else None

    def _started(self, now: datetime, first: bool = False, conn: sa.Connection | None = None) -> Engine:
        """The engine resumed at the store's clock.  A store that never ticked
        starts its clock at `now`, or for a tick at the first thing due if that
        is earlier (so sign-ups recorded before the first tick keep their minute).
        `conn`: read in that (open) transaction rather than in one of its own."""
        engine, clock = self._engine_and_clock(conn)
        if clock is None:
            clock = minute_floor(now)
            if first:
                earliest = self._next_instant()
                clock = min(clock, earliest) if earliest is not None else clock
        engine.resume(clock)
        return engine

    # ------------------------------------------------------------ the tick
    def tick(self, now: datetime | None = None, *, deliver: bool = True,
             stop: Callable[[], bool] | None = None,
             progress: Callable[[str, int], None] | None = None) -> TickReport:
        """One pass up to `now` (default: the wall clock); see the module docstring."""
        started = time.perf_counter()
        now = now if now is not None else utcnow()
        stop = stop or (lambda: False)
        report = TickReport(iso(now))
        engine = self._started(now, first=True)
        engine.warnings.clear()
        self.store.counts.clear()
        tick_id = self._log_start(now)
        outbox = None
        if deliver:
            outbox = self._outbox = LeasedOutbox(self, now, report)  # takes back stale claims: exclusive
            outbox.stop = stop
            self.store.claim_as = outbox.claim
        with self.db.sharing(), batch_collections():
            self._tick(engine, now, report, stop, progress, outbox, started)
        report.interrupted = report.interrupted or stop()
        report.seconds = time.perf_counter() - started
        self._log_end(tick_id, report)
        return report

    def _tick(self, engine: Engine, now: datetime, report: TickReport, stop: Callable[[], bool],
              progress: Callable[[str, int], None] | None, outbox: Any, started: float) -> None:
        clock = engine.now
        if clock is None:  # _started resumed the engine at the store's clock
            raise RuntimeError("tick: the engine has no clock")
        previous: tuple | None = None
        held_by_others = False
        try:
            while not stop():
                t = self._next_instant()
                if t is None or t > now:
                    break
                t = max(t, clock)
                done = (report.events, report.checks, report.woken)
                if previous == (t, done):
                    # the same instant again and nothing moved: never spin.  With many
                    # workers, what is left of t is in other workers' hands.
                    held_by_others = self.db.shared
                    break
                self._instant(engine, t, report, stop, progress)
                previous, clock = (t, done), t
            if not report.interrupted and not held_by_others:  # others' work at t keeps its instant
                clock = max(clock, minute_floor(now))
            self._set_clock(clock)
            engine.now = clock
            report.steps = self.store.counts["steps"]
            report.actions = {k: v for k, v in self.store.counts.items() if k in ("send", "task", "notify", "set")}
            report.warnings = len(engine.warnings)
            report.engine_seconds = time.perf_counter() - started - report.deliver_seconds
            if outbox is not None and not stop():
                t0 = time.perf_counter()
                outbox.drain(stop, progress)
                report.deliver_seconds += time.perf_counter() - t0
        finally:
            self.store.claim_as = None
            self._outbox = None
            if outbox is not None:
                outbox.hand_over_records(self.store.take_handoff())  # claimed: never left behind
                outbox.close()

    def _instant(self, engine: Engine, t: datetime, report: TickReport, stop: Callable[[], bool],
                 progress: Callable[[str, int], None] | None) -> None:
        """The three phases of instant t, batch by batch."""
        store = self.store
        report.instants += 1
        engine.begin_instant(t)
        engine._zones.clear()
        store.history.horizon = t - self.cap_span if self.cap_span is not None else None
        def events_batch(limit: int) -> list:
            got = store.claim_events(t, limit)
            for e in got:
                engine.apply_event(e)
            return got

        def checks_batch(limit: int) -> int:
            n = store.claim_checks(t, limit)
            run_checks(engine, t)
            return n

        def due_batch(limit: int) -> int:
            n = store.claim_due(t, limit)
            engine.wake_due(t)
            return n

        while True:  # 1. events
            got = self._isolated(engine, events_batch, lambda exc: [quarantine.event(self.db, t, exc)])
            report.events += len(got)
            if not got or self._halt(stop, report):
                break
        if report.interrupted:
            return
        # 2. enroll-when checks: those that cannot match move on in SQL, the engine looks at the rest
        segments = [prog for prog in engine.ordered if prog.enroll_when is not None]
        while segments and (moved := self._batch(engine, lambda: store.pass_over_checks(t, segments))):
            report.checks_in_sql += moved  # a chunk per transaction (segment_checks.CHUNK)
            if self._halt(stop, report):
                return
        while True:
            n = self._isolated(engine, checks_batch, lambda exc: quarantine.check(self.db, t, exc))
            report.checks += n
            if not n or self._halt(stop, report):
                break
        if report.interrupted:
            return
        engine.checks_done = True
        while True:  # 3. due enrollments
            n = self._isolated(engine, due_batch, lambda exc: quarantine.due(self.db, t, exc))
            self._hand_over()
            report.woken += n
            if progress is not None and n:
                progress("steps", n)
            if not n or self._halt(stop, report):
                break

    def _isolated(self, engine: Engine, work: Callable[[int], Any], set_aside: Callable[[Exception], Any]) -> Any:
        """A batch of `work(limit)`.  When it raises on a row no code can read
        (a JSON text edited by hand, a value the database refuses), the batch is
        redone with one row: if that fails too, the row is set aside in a
        transaction of its own (quarantine.py) and the phase goes on."""
        try:
            result = self._batch(engine, lambda: work(self.batch_size))
            quarantine.went_through()
            return result
        except Exception as exc:  # noqa: BLE001 - unless the store itself is unreachable (re-raised)
            if not quarantine.is_data_error(exc):
                raise
        try:
            result = self._batch(engine, lambda: work(1))
            quarantine.went_through()
            return result
        except Exception as exc:  # noqa: BLE001 - the first row is the one
            if not quarantine.is_data_error(exc):
                raise
            return set_aside(exc)

    def _batch(self, engine: Engine, work: Callable[[], Any], attempts: int = 5) -> Any:
        """One batch in one transaction; redone when PostgreSQL aborted it as a
        deadlock with another worker's batch (nothing of it was committed).
        It also records the outcomes the delivery process left to the tick
        (outbox.Settled): one writer, one commit, on SQLite."""
        for attempt in range(attempts):
            counts, warnings = Counter(self.store.counts), len(engine.warnings)
            deferred = self._outbox.deferred() if self._outbox is not None else None
            try:
                with self.store.transaction():
                    result = work()
                    if deferred is not None:
                        deferred.write(self.store.conn)
                if deferred is not None:
                    deferred.done()
                return result
            except BaseException as exc:
                if deferred is not None:
                    deferred.put_back()
                if (not isinstance(exc, sa.exc.DBAPIError) or getattr(exc.orig, "sqlstate", None) != "40P01"
                        or attempt == attempts - 1):
                    raise
                self.store.counts = counts
                del engine.warnings[warnings:]
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def _hand_over(self) -> None:
        """What the batch just committed as claimed goes to its channels now."""
        if self._outbox is not None:
            t0 = time.perf_counter()
            handoff = self.store.take_handoff()
            self._outbox.hand_over_records(handoff)
            self._outbox.report.deliver_seconds += time.perf_counter() - t0

    @staticmethod
    def _halt(stop: Callable[[], bool], report: TickReport) -> bool:
        if stop():
            report.interrupted = True
            return True
        return False

    def _next_instant(self) -> datetime | None:
        """The earliest pending event minute, wake-up or check (index lookups only)."""
        with self.db.read() as conn:
            times = [
                conn.execute(sa.select(sa.func.min(events.c.at)).where(events.c.status == "pending")).scalar(),
                conn.execute(sa.select(sa.func.min(enrollments.c.wake_at))
                             .where(enrollments.c.wake_at.is_not(None))).scalar(),
                conn.execute(sa.select(sa.func.min(checks.c.at))).scalar(),
            ]
        event, wake, check = times
        found = [instant(event - event % 60)] if event is not None else []  # an event counts from its minute
        found += [instant(x + (-x % 60)) for x in (wake, check) if x is not None]  # due times round up
        return min(found) if found else None

    def _set_clock(self, clock: datetime) -> None:
        """Only forward: workers finishing in any order never move it back."""
        value = epoch(clock)
        with self.db.write() as conn:
            conn.execute(insert_ignore(self.db, meta).values(key="clock", value=str(value)))
            conn.execute(meta.update().where(meta.c.key == "clock",
                                             sa.cast(meta.c.value, sa.BigInteger) < value).values(value=str(value)))

    def _log_start(self, now: datetime) -> int:
        with self.db.sharing(), self.db.write() as conn:
            key = conn.execute(ticks.insert().values(started_at=int(time.time()), now=epoch(now))).inserted_primary_key
            if key is None:  # an INSERT of one row always has its key
                raise StoreError("the tick log returned no row id")
            return key[0]

    def _log_end(self, tick_id: int, report: TickReport) -> None:
        data = report.to_json()
        data["failures"] = data["failures"][:20]
        with self.db.sharing(), self.db.write() as conn:
            conn.execute(ticks.update().where(ticks.c.id == tick_id)
                         .values(finished_at=int(time.time()), report=json.dumps(data)))

    # ------------------------------------------------------------ data API
    def put_contacts(self, contacts: Iterable[Contact], now: datetime | None = None) -> int:
        """Load or replace contacts; `enroll when` checks are scheduled as the engine would."""
        return len(self.merge_contacts(contacts, _replace, now))

    def merge_contacts(self, contacts: Iterable[Contact], merge: Callable[[Contact | None, Contact], tuple],
                       now: datetime | None = None, *, new: bool = False,
                       texts: list[str] | None = None) -> list[tuple[Contact | None, bool]]:
        """Write `merge(stored, given)` -> (contact, changed) for each contact, reading
        and writing IMPORT_CHUNK contacts per transaction (one SELECT, one bulk write).
        Returns (stored, changed) per contact, in order.

        `new`: the caller expects none of these contacts to be stored yet (an
        import whose last chunk was all new).  Each chunk is then first written
        with a plain INSERT and no SELECT, which the store's unique id checks as
        it writes; a chunk with a stored contact fails that INSERT, its
        transaction is rolled back and the chunk is merged as usual.  The
        result is the same either way.  `texts`: each given contact's fields
        as the store writes them (ContactBatch.texts), used for a contact
        written as it was given."""
        engine = self._started(now or utcnow())
        out: list[tuple[Contact | None, bool]] = []
        size = max(self.batch_size, IMPORT_CHUNK)
        encoded = _chunks(texts, size) if texts else None
        for chunk in _chunks(contacts, size):
            chunk_texts = next(encoded, None) if encoded is not None else None
            if new and not self.db.shared and self._insert_new(engine, chunk, merge, chunk_texts):
                out.extend(zip(itertools.repeat(None), itertools.repeat(True, len(chunk))))
                continue
            with self.store.transaction():
                ids = [c.id for c in chunk]
                self.store.prefetch_entities(ids, [])
                # (maps, not a loop: an import's chunk of new contacts has nothing to decide per contact)
                stored_all = list(map(self.store.get_contact, ids))
                merged_all = list(map(merge, stored_all, chunk))
                if any(stored_all):
                    for stored, (merged, is_change) in zip(stored_all, merged_all):
                        if is_change and stored is not None:
                            merged.version = stored.version + 1
                changes = [is_change for _, is_change in merged_all]
                out.extend(zip(stored_all, changes))
                engine.add_contacts(list(itertools.compress([m for m, _ in merged_all], changes)))
        return out

    def _insert_new(self, engine: Engine, chunk: list[Contact], merge: Callable, texts: list[str] | None) -> bool:
        """merge_contacts of a chunk none of whose contacts is stored, as one INSERT:
        False (and nothing written) when one is stored after all.  Any other
        store error is raised again by the usual path, which writes the same rows."""
        results = list(map(merge, itertools.repeat(None), chunk))
        if not all(changed for _, changed in results):
            return False  # (a merge that keeps some new contact out: the usual path decides)
        merged = [contact for contact, _ in results]
        if texts is not None and (len(texts) != len(chunk) or not all(map(operator.is_, merged, chunk))):
            texts = None  # (the texts are of the contacts given, not of others the merge made)
        try:
            with self.store.transaction():
                engine.add_contacts(merged, new=True, texts=texts)
        except sa.exc.IntegrityError:
            return False
        return True

    def put_deals(self, deals: Iterable[Deal], now: datetime | None = None) -> int:
        """Load or replace deals with their stakeholders (contacts must exist)."""
        engine = self._started(now or utcnow())
        n = 0
        for chunk in _chunks(deals, self.batch_size):
            with self.store.transaction():
                for deal in chunk:
                    engine.add_deal(deal)
                    n += 1
        return n

    def record_events(self, evs: Iterable[Event], *, history: bool = False) -> int:
        """Queue events for the next tick (history: known to count()/last(), triggering nothing)."""
        received = int(time.time())
        rows = []
        evs = list(evs)
        for e in evs:
            e.at = minute_floor(e.at)
            rows.append(event_row(e, "done" if history else "pending", None, received))
        for chunk in _chunks(rows, 5000):
            with self.db.write() as conn:
                conn.execute(events.insert(), chunk)
        if history:  # never applied, but a habit is learned from them (`send at best time`)
            self._count_history([e for e in evs if e.contact is not None and human_engagement(e)])
        return len(rows)

    def _count_history(self, evs: list[Event]) -> None:
        if not evs:
            return
        engine = self._started(utcnow())
        for chunk in _chunks(evs, self.batch_size):
            with self.store.transaction():
                for e in chunk:
                    count_engagement(engine, e)

    def ingest_now(self, evs: list[Event], now: datetime | None = None, *,
                   prepare: Callable[[sa.Connection], list[Event]] | None = None,
                   quiet_to_tick: bool = False) -> list[str]:
        """Record events and apply them at once, in one transaction (SIGNALS.md: a stop is
        immediate): the engine's own ingestion, as a tick's event phase runs it, so stop and
        pause rules, suppression and the withdrawal of unsent outbox items are committed
        with the event rows, before the caller answers its source.  Returns the engine's
        warnings (unknown contact, message never sent, ...): the events are kept all the same.

        An event with a `dedup` key (a provider's event id, a mail's Message-ID) that is
        already stored is not recorded again, and says so in the warnings.  Two processes
        receiving the same retry at once both pass that check; the unique index lets only
        one commit, and the other's second attempt then sees the row.

        Returns only once no message of an enrollment these events stopped or paused is
        still being handed over (raises withdrawal.StillHandingOver after its wait).

        `prepare`, when given, runs first in the same transaction and returns more events
        to apply (`fsl serve` stores and judges a group's tracking hits there: one commit
        for the hits and their events).  With `quiet_to_tick`, the events no rule acts on at
        once (Engine.acts_at_once) are recorded pending, in the same transaction, for the
        next tick's event phase to apply: opens and clicks arrive by the thousand and most
        only count, and the tick applies them in batches (docs/DECISIONS.md)."""
        given = evs
        for attempt in range(2):
            evs = list(given)
            repeated: list[str] = []
            try:
                with self.store.transaction():
                    assert self.store.conn is not None
                    engine = self._started(now or utcnow(), conn=self.store.conn)
                    engine.warnings.clear()
                    if prepare is not None:
                        evs += prepare(self.store.conn)
                    if quiet_to_tick:
                        evs = self._queue_quiet(engine, evs)
                    seen = self._recorded_keys(evs)
                    self.store.prefetch_for_events(evs)
                    for e in evs:
                        if e.dedup is not None and e.dedup in seen:
                            repeated.append(f"{e.type} {e.dedup}: already recorded, not recorded again")
                            continue
                        if e.dedup is not None:
                            seen.add(e.dedup)
                        engine.apply_event(e)
                    stopped = bool(self.store._cancels)  # a stop or pause rule acted (flushed at commit)
            except sa.exc.IntegrityError:
                if attempt:
                    raise
                continue
            warnings = repeated + [message for _, message, _ in engine.warnings]
            if stopped or repeated:  # (a repeat: the retry of a stop whose first answer was a 503)
                # a message already on its way settles before the caller answers (withdrawal.py)
                await_withdrawn(self.db, evs)
            return warnings
        raise AssertionError("unreachable")

    def _queue_quiet(self, engine: Engine, evs: list[Event]) -> list[Event]:
        """Record the events of `evs` without a dedup key that no rule acts on at once as
        pending, in the open transaction; the others, to apply now."""
        now: list[Event] = []
        quiet: list[Event] = []
        for e in evs:
            (quiet if e.dedup is None and not engine.acts_at_once(e) else now).append(e)
        if quiet:
            received = int(time.time())
            assert self.store.conn is not None
            rows = [event_row(e, "pending", None, received) for e in quiet]
            columns = tuple(rows[0])
            bulk.insert(self.store.conn, events, columns, [tuple(r[c] for c in columns) for r in rows])
        return now

    def _recorded_keys(self, evs: list[Event]) -> set[str]:
        keys = [e.dedup for e in evs if e.dedup is not None]
        if not keys:
            return set()
        rows = self.store._c().execute(sa.select(events.c.dedup).where(events.c.dedup.in_(keys)))
        return {r[0] for r in rows}

    def enroll(self, playbook: str, contact_id: str, deal_id: str | None = None,
               at: datetime | None = None) -> tuple[int | None, str]:
        """Enroll by hand: (enrollment id, "") or (None, why not)."""
        at = minute_floor(at or utcnow())
        engine = self._started(at)
        prog = engine.programs.get(playbook)
        if prog is None:
            known = ", ".join(sorted(engine.programs)) or "none deployed"
            return None, f"no deployed playbook named {playbook} (deployed: {known})"
        with self.store.transaction():
            contact = self.store.get_contact(contact_id)
            if contact is None:
                return None, f"unknown contact {contact_id}"
            deal = None
            if deal_id is not None:
                deal = self.store.get_deal(deal_id)
                if deal is None:
                    return None, f"unknown deal {deal_id}"
            en = try_enroll(engine, prog, contact, deal, at, "enrolled by hand", 0)
            if en is None:
                running = self.store.active_enrollment(contact_id, playbook)
                why = (f"{contact_id} already runs {playbook} (enrollment {running.id})" if running is not None
                       else f"{contact_id} may not re-enter {playbook} yet (reenroll rule)")
                return None, why
            return en.id, ""


def _replace(stored: Contact | None, given: Contact) -> tuple[Contact, bool]:
    return given, True


def _chunks(items: Iterable, size: int):
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class LeasedOutbox(Outbox):
    """The outbox whose drain claims with `FOR UPDATE SKIP LOCKED` when many
    workers share the store (PostgreSQL, `db.sharing()`): two workers never
    claim the same row and never wait for each other's (fsl/store/lease.py)."""

    def _claim(self, limit: int) -> list[Item]:
        rt = self.runtime
        if not rt.db.shared:
            return super()._claim(limit)
        with rt.db.write() as conn:
            token, until = self.own_claim()
            rows = lease.claim_outbox(conn, epoch(self.now), limit, token, until)
        if not rows:
            return []
        return self.items_of(rows)
