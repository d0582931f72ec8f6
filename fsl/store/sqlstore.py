"""`SqlStore`: the engine's `Store` protocol over SQL, one working set per transaction.

The engine (fsl/engine) is written against `Store`; this class lets it run
unchanged on the database.  Inside `transaction()` the store is a
write-behind unit of work:

* reads load rows into an identity map (one object per contact, deal,
  enrollment), in bulk for a whole batch (`claim_due`, `claim_checks`,
  `claim_events` prefetch the contacts, deals, events and send history of
  what they claim), lazily for anything else the engine asks for;
* the engine mutates those objects in place, as it does in memory;
* at the end of the block every change is written back in the same
  transaction (`flush`): changed enrollments, contacts and deals (found by
  comparing with what was loaded), new enrollments, actions (the outbox),
  events, journal entries, the `enroll when` schedule, cancellations -- all
  with executemany -- and then it commits.  Nothing survives the transaction
  in memory, so the next batch reads what other processes committed.

On PostgreSQL inside `Database.sharing()` (many workers), the claims skip
rows and contacts / deals other workers hold, and everything else a batch
reads is locked first (fsl/store/lease.py says why and how).

So a batch is atomic: a tick killed at any instant loses the batch it was in
and nothing else, and the next tick redoes exactly that work.

The wake-up schedule is the `wake_at` column (indexed with the same-instant
order: rank = -priority, playbook, contact, id); `claim_due(t)` reads the
next batch of due enrollments from that index, which is what makes a tick
cost what is due and not what is waiting.
"""
from __future__ import annotations

import bisect
import itertools
from collections import Counter, deque
from contextlib import contextmanager
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.engine.model import ENDED, ActionRecord, Contact, Deal, Enrollment, Event, JournalEntry, SplitDecision
from fsl.engine.memstore import Scope

from . import bulk, email_keys, lease
from . import rows as R
from .codec import dumps, dumps_flat, epoch, instant, loads
from .db import Database, insert_ignore, upsert
from .history import SendHistory
from .members import one_of
from .schema import checks, contacts, deals, enrollments, events, journal, stakeholders
from .writeback import write_back
from .schema import engagement, engagement_totals, split_decisions, suppressions

MINUTE = 60
_snap = itemgetter(*R.CHANGING)  # a row -> the values write-back compares with (rows.enrollment_changes)


class SqlStore:
    """See the module docstring.  `rank_of(en)` gives -priority of an
    enrollment's plan (the runtime sets it from its programs)."""

    def __init__(self, db: Database, rank_of: Callable[[Enrollment], int] | None = None) -> None:
        self.db = db
        self.conn: Connection | None = None
        self.rank_of = rank_of or (lambda en: 0)
        self.history = SendHistory()
        # which send-history sources a batch prefetches: contacts (rolling and
        # global caps), enrollments (total caps), deals (`across deal` caps)
        self.prefetch_sources = {"c": True, "e": True, "d": True}
        self.counts: Counter = Counter()
        # Set by a tick that delivers: () -> (token, lease_until).  New sends,
        # tasks and notifications are then written already claimed by it, and
        # after each commit `take_handoff()` gives them to the outbox.
        self.claim_as: Callable[[], tuple[str, int]] | None = None
        self._handoff: list[tuple] = []
        self.leasing = False  # PostgreSQL, shared writer lock: lock contacts and deals (lease.py)
        # (v1.1) load the engagement counts of a batch's contacts with the batch
        # (the runtime sets it when a deployed playbook sends at best time)
        self.prefetch_engagement = False
        self.segment_sql = True  # due checks that cannot match are moved on in SQL (segment_checks.py)
        self._reset()

    # ------------------------------------------------------------ transactions
    @contextmanager
    def transaction(self) -> Iterator["SqlStore"]:
        """A write transaction: the working set is written back and committed at the end."""
        if self.conn is not None:
            raise RuntimeError("SqlStore: a transaction is already open")
        committed: list[tuple] = []
        try:
            with self.db.write() as conn:
                self.conn = self.history.conn = conn
                self.leasing = self.db.shared
                yield self
                self.flush()
                committed = self._outgoing
        finally:
            self.conn = self.history.conn = None
            self.leasing = False
            self._reset()
        self._handoff.extend(committed)  # only once the commit went through

    def take_handoff(self) -> list[tuple]:
        """The claimed actions of the transactions committed since the last call:
        (key, record, vars, contact, deal)."""
        out, self._handoff = self._handoff, []
        return out

    @contextmanager
    def snapshot(self) -> Iterator["SqlStore"]:
        """A read-only view (reports, `fsl status`): nothing is written back."""
        if self.conn is not None:
            raise RuntimeError("SqlStore: a transaction is already open")
        with self.db.read() as conn:
            self.conn = self.history.conn = conn
            try:
                yield self
            finally:
                self.conn = self.history.conn = None
                self._reset()

    def _c(self) -> Connection:
        if self.conn is None:
            raise RuntimeError("SqlStore: use it inside store.transaction() or store.snapshot()")
        return self.conn

    def _reset(self) -> None:
        self._contacts: dict[str, Contact | None] = {}
        self._contact_snap: dict[str, int] = {}  # version as loaded (the engine bumps it on every change)
        self._deals: dict[str, Deal | None] = {}
        self._deal_snap: dict[str, tuple[str, str]] = {}
        self._deals_of: dict[str, list[str]] = {}
        self._enr: dict[int, Enrollment] = {}
        self._enr_snap: dict[int, tuple] = {}
        self._wake: dict[int, datetime | None] = {}
        self._rank: dict[int, int] = {}
        self._new_enr: set[int] = set()
        self._by_contact: dict[str, dict[int, Enrollment]] = {}
        self._events_loaded: set[str] = set()
        # (contact, type) -> events; only events with a contact are indexed, but a row's
        # contact reads as `str | None` (Event.contact)
        self._ev_contact: dict[tuple[str | None, str], list[Event]] = {}
        self._ev_enrollment: dict[int, list[Event]] = {}
        self._claimed: dict[int, R.StoredEvent] = {}
        self._flags: dict[int, str | None] = {}
        self._new_events: list[tuple[Event, str | None]] = []
        self._checks: dict[tuple, tuple[datetime | None, int]] = {}
        self._check_queue: deque[tuple[datetime, tuple]] = deque()
        self._due: deque[int] = deque()
        self._actions: list[tuple[ActionRecord, dict | None]] = []
        self._keys: set[tuple] = set()
        self._journal: list[JournalEntry] = []
        self._cancels: dict[int, str] = {}
        self._suppressed: dict[str, tuple[datetime, str] | None] = {}
        self._any_suppressed: bool | None = None
        self._outgoing: list[tuple] = []  # claimed by write_back, handed over after the commit
        self._next_id: int | None = None
        self._held: dict[int, set[str]] = {lease.CONTACT: set(), lease.DEAL: set()}
        self._engaged: dict[str, list[int]] = {}  # contact -> counts per local hour, as loaded + this batch
        self._engaged_all: list[int] | None = None  # the project's, as loaded + this batch
        self._engaged_new: Counter = Counter()  # (contact, hour) -> added by this batch (write-back)
        self.history.reset()

    def _guard(self, namespace: int, ids: Iterable[str | None]) -> None:
        """Many workers: wait for the locks of these contacts / deals before reading them."""
        if not self.leasing:
            return
        held = self._held[namespace]
        todo = {i for i in ids if i and i not in held}
        if todo:
            lease.lock(self._c(), namespace, todo)
            held.update(todo)

    def _hold(self, rows: Iterable[Any], deal_blank: str | None = None) -> None:
        """Claimed rows: their contacts and deals were locked by the claim itself."""
        for r in rows:
            if r["contact"]:
                self._held[lease.CONTACT].add(r["contact"])
            if r["deal"] and r["deal"] != deal_blank:
                self._held[lease.DEAL].add(r["deal"])

    # ------------------------------------------------------------ contacts, deals
    def put_contact(self, contact: Contact) -> None:
        """Write-through (imports): upserted at once in the open transaction."""
        self.put_contacts([contact])

    def put_contacts(self, batch: list[Contact], new: bool = False, texts: list[str] | None = None) -> None:
        """Write-through of many contacts (imports): one upsert; with `new`, a
        plain INSERT, which raises IntegrityError (the transaction is then to be
        rolled back) if one of them is stored.  `texts`: the contacts' fields
        encoded already (codec.dumps_columns), else each is encoded here."""
        now = epoch(_wall())
        ids = [c.id for c in batch]
        versions = [c.version for c in batch]
        fields = [c.fields for c in batch]
        encoded = map(dumps_flat, fields) if texts is None else texts
        rows = zip(ids, encoded, versions, itertools.repeat(now), email_keys.keys_of(fields))
        if new:
            bulk.insert(self._c(), contacts, CONTACT_COLUMNS, rows)
        else:
            bulk.upsert(self._c(), contacts, CONTACT_COLUMNS, "id", rows)
        self._contacts.update(zip(ids, batch))
        self._contact_snap.update(zip(ids, versions))

    def get_contact(self, contact_id: str) -> Contact | None:
        if contact_id not in self._contacts:
            self._load_contacts([contact_id])
        return self._contacts.get(contact_id)

    def contact_ids(self) -> list[str]:
        return list(self._c().execute(sa.select(contacts.c.id).order_by(contacts.c.id)).scalars())

    def put_deal(self, deal: Deal) -> None:
        """Write-through (imports): the deal and its stakeholders replaced at once."""
        c = self._c()
        old = self.get_deal(deal.id)
        text, stakes = dumps(deal.fields), dumps(deal.stakeholders)
        c.execute(upsert(self.db, deals, ["id"], ["fields", "updated_at"]),
                  [{"id": deal.id, "fields": text, "updated_at": epoch(_wall())}])
        c.execute(stakeholders.delete().where(stakeholders.c.deal == deal.id))
        if deal.stakeholders:
            c.execute(stakeholders.insert(), [{"deal": deal.id, "contact": cid, "fields": dumps(f)}
                                              for cid, f in deal.stakeholders.items()])
        for cid in set(deal.stakeholders) | set(old.stakeholders if old is not None else ()):
            self._deals_of.pop(cid, None)
        self._deals[deal.id] = deal
        self._deal_snap[deal.id] = (text, stakes)

    def get_deal(self, deal_id: str) -> Deal | None:
        if deal_id not in self._deals:
            self._load_deals([deal_id])
        return self._deals.get(deal_id)

    def deals_of(self, contact_id: str) -> list[str]:
        got = self._deals_of.get(contact_id)
        if got is None:
            self._load_deals_of([contact_id])
            got = self._deals_of[contact_id]
        return got

    def links(self) -> list[tuple[str, str]]:
        q = sa.select(stakeholders.c.contact, stakeholders.c.deal).order_by(stakeholders.c.contact,
                                                                             stakeholders.c.deal)
        return [(r[0], r[1]) for r in self._c().execute(q)]

    def prefetch_entities(self, contact_ids: Iterable[str], deal_ids: Iterable[str]) -> None:
        """Load these contacts and deals with one query each (the outbox renders a batch)."""
        self._load_contacts(contact_ids)
        self._load_deals(deal_ids)

    def prefetch_for_events(self, evs: Iterable[Event]) -> None:
        """What applying these events reads, with one query per table (a batch of signals
        ingested at once: `Runtime.ingest_now`)."""
        cids = [e.contact for e in evs if e.contact is not None]
        self._load_contacts(cids)
        self._load_events(cids)
        self._load_contact_enrollments(cids)
        self._load_deals_of(cids)
        self._load_deals([e.deal for e in evs if e.deal] + [d for c in cids for d in self._deals_of.get(c, ())])

    def _load_contacts(self, ids: Iterable[str]) -> None:
        wanted = set(ids).difference(self._contacts)
        todo = list(wanted)
        self._guard(lease.CONTACT, todo)
        # one_of sends the ids as one parameter: an import's chunk of contacts in one query
        # (sorted when there are more, for chunks that do not depend on the order given)
        for chunk in _chunks(todo if len(todo) <= IMPORT_READ else sorted(todo), IMPORT_READ):
            q = sa.select(contacts).where(one_of(self._c(), contacts.c.id, chunk))
            for row in self._c().execute(q).mappings():
                contact = self._contacts[row["id"]] = R.contact_from(row)
                self._contact_snap[row["id"]] = contact.version
        self._contacts.update(dict.fromkeys(wanted.difference(self._contacts)))  # not stored: known to be none

    def _load_deals(self, ids: Iterable[str | None]) -> None:  # an enrollment's or event's deal may be None
        todo = sorted({i for i in ids if i is not None and i not in self._deals})
        self._guard(lease.DEAL, todo)
        for chunk in _chunks(todo):
            c = self._c()
            found = {r["id"]: r for r in c.execute(sa.select(deals).where(one_of(c, deals.c.id, chunk))).mappings()}
            stakes: dict[str, list] = {}
            q = sa.select(stakeholders).where(one_of(c, stakeholders.c.deal, chunk)).order_by(stakeholders.c.contact)
            for s in c.execute(q).mappings():
                stakes.setdefault(s["deal"], []).append(s)
            for did, row in found.items():
                deal = R.deal_from(row, stakes.get(did, []))
                self._deals[did] = deal
                self._deal_snap[did] = (row["fields"], dumps(deal.stakeholders))
        for i in todo:
            self._deals.setdefault(i, None)

    def _load_deals_of(self, ids: Iterable[str]) -> None:
        todo = sorted({i for i in ids if i not in self._deals_of})
        for i in todo:
            self._deals_of[i] = []
        for chunk in _chunks(todo):
            s = stakeholders.c
            q = sa.select(s.contact, s.deal).where(one_of(self._c(), s.contact, chunk)).order_by(s.contact, s.deal)
            for cid, did in self._c().execute(q):
                self._deals_of[cid].append(did)

    # ------------------------------------------------------------ events
    def add_event(self, event: Event) -> None:
        flag = self._flag(event)
        if isinstance(event, R.StoredEvent) and event.row_id in self._claimed:
            self._flags[event.row_id] = flag
        else:
            self._new_events.append((event, flag))
        if event.contact is not None and flag != "unknown_contact":
            self._load_events([event.contact])
            self._index_event(event)

    def event_failed(self, event: Event) -> None:
        """Applying it raised: kept, flagged `error` (the journal has why)."""
        if isinstance(event, R.StoredEvent) and event.row_id in self._claimed:
            self._flags[event.row_id] = "error"
            return
        for i, (e, _) in enumerate(self._new_events):
            if e is event:
                self._new_events[i] = (e, "error")
                return
        self._new_events.append((event, "error"))

    def _flag(self, e: Event) -> str | None:
        if e.contact is not None and self.get_contact(e.contact) is None:
            return "unknown_contact"
        if e.step is not None and e.enrollment is None and e.type != "update":
            return "unknown_message"
        if e.deal is not None and self.get_deal(e.deal) is None:
            return "unknown_deal"
        return None

    def _index_event(self, e: Event) -> None:
        lst = self._ev_contact.setdefault((e.contact, e.type), [])
        if lst and lst[-1].at > e.at:
            bisect.insort(lst, e, key=lambda x: x.at)
        else:
            lst.append(e)
        if e.enrollment is not None:
            self._ev_enrollment.setdefault(e.enrollment, []).append(e)

    def _load_events(self, contact_ids: Iterable[str]) -> None:
        todo = sorted({i for i in contact_ids if i is not None and i not in self._events_loaded})
        for chunk in _chunks(todo):
            q = (sa.select(events).where(one_of(self._c(), events.c.contact, chunk), events.c.status == "done")
                 .order_by(events.c.at, events.c.id))
            for row in self._c().execute(q).mappings():
                self._index_event(R.event_from(row))
        self._events_loaded.update(todo)

    # ------------------------------------------------------------ engagement by hour (v1.1)
    def add_engagement(self, contact_id: str, hour: int) -> None:
        # The write-back adds this batch's counts to the table (an upsert that adds),
        # so nothing is read here: every human event pays no query for a count that
        # only `send at best time` reads.  Counts already loaded are kept current;
        # counts loaded later get this batch's additions when they are read.
        self._engaged_new[(contact_id, hour)] += 1
        if contact_id in self._engaged:
            self._engaged[contact_id][hour] += 1
        if self._engaged_all is not None:
            self._engaged_all[hour] += 1

    def engagement(self, contact_id: str) -> tuple[Sequence[int], Sequence[int]]:
        if contact_id not in self._engaged:
            self._load_engagement([contact_id])
        if self._engaged_all is None:
            totals = [0] * 24
            for hour, n in self._c().execute(sa.select(engagement_totals.c.hour, engagement_totals.c.n)):
                totals[hour] = int(n)
            for (_, hour), n in self._engaged_new.items():  # this batch's, not written yet
                totals[hour] += n
            self._engaged_all = totals
        return self._engaged[contact_id], self._engaged_all

    def _load_engagement(self, ids: Iterable[str]) -> None:
        todo = sorted({i for i in ids if i not in self._engaged})
        for i in todo:
            self._engaged[i] = [0] * 24
        g = engagement.c
        for chunk in _chunks(todo):
            for cid, hour, n in self._c().execute(sa.select(g.contact, g.hour, g.n)
                                                  .where(one_of(self._c(), g.contact, chunk))):
                self._engaged[cid][hour] = int(n)
        if self._engaged_new:
            loaded = set(todo)
            for (cid, hour), n in self._engaged_new.items():  # this batch's, not written yet
                if cid in loaded:
                    self._engaged[cid][hour] += n

    def contact_events(self, contact_id: str, type_: str) -> Sequence[Event]:
        if contact_id not in self._events_loaded:
            self._load_events([contact_id])
        return self._ev_contact.get((contact_id, type_), ())

    def enrollment_events(self, enrollment_id: int) -> Sequence[Event]:
        en = self.get_enrollment(enrollment_id)
        if en is not None and en.contact not in self._events_loaded:
            self._load_events([en.contact])
        return self._ev_enrollment.get(enrollment_id, ())

    def events(self) -> Iterable[Event]:
        q = sa.select(events).where(events.c.status == "done").order_by(events.c.at, events.c.id)
        for row in self._c().execute(q).mappings():
            yield R.event_from(row)

    def claim_events(self, t: datetime, limit: int) -> list[R.StoredEvent]:
        """The next pending events of t's minute or before, in arrival order;
        they are marked applied when the transaction commits."""
        q = (sa.select(events).where(events.c.status == "pending", events.c.at < epoch(t) + MINUTE)
             .order_by(events.c.at, events.c.id).limit(limit))
        if self.leasing:
            q = q.where(*lease.try_locks(events)).with_for_update(skip_locked=True)
        rows = list(self._c().execute(q).mappings())
        self._hold(rows)
        got = [R.event_from(row) for row in rows]
        for e in got:
            e.at = e.at.replace(second=0)
            self._claimed[e.row_id] = e
        cids = [e.contact for e in got if e.contact is not None]
        self._load_contacts(cids)
        self._load_events(cids)
        self._load_contact_enrollments(cids)
        self._load_deals_of(cids)
        self._load_deals([e.deal for e in got] + [d for c in cids for d in self._deals_of.get(c, ())])
        return got

    # ------------------------------------------------------------ enrollments
    def _adopt(self, row: Any) -> Enrollment:
        eid = int(row["id"])
        en = self._enr.get(eid)
        if en is not None:
            return en
        en = R.enrollment_from(row)
        self._enr[eid] = en
        self._wake[eid] = instant(row["wake_at"])
        self._rank[eid] = int(row["rank"])
        self._enr_snap[eid] = _snap(row)
        return en

    def _load_contact_enrollments(self, contact_ids: Iterable[str]) -> None:
        todo = sorted({i for i in contact_ids if i not in self._by_contact})
        self._guard(lease.CONTACT, todo)
        for i in todo:
            self._by_contact[i] = {}
        for chunk in _chunks(todo):
            q = sa.select(enrollments).where(one_of(self._c(), enrollments.c.contact, chunk)).order_by(enrollments.c.id)
            found = list(self._c().execute(q).mappings())
            self._guard(lease.DEAL, [row["deal"] for row in found])  # their rows only change under both locks
            for row in found:
                en = self._adopt(row)
                self._by_contact[en.contact][en.id] = en

    def _contact_enrollments(self, contact_id: str) -> dict[int, Enrollment]:
        if contact_id not in self._by_contact:
            self._load_contact_enrollments([contact_id])
        return self._by_contact[contact_id]

    def new_enrollment_id(self) -> int:
        """max + 1 under the write lock on SQLite (one writer at a time: db.py);
        a sequence on PostgreSQL, where workers enroll at once (lease.py)."""
        if self.db.dialect == "postgresql":
            return lease.next_ids(self._c(), 1)[0]
        if self._next_id is None:
            self._next_id = self._c().execute(sa.select(sa.func.max(enrollments.c.id))).scalar() or 0
        self._next_id += 1
        return self._next_id

    def add_enrollment(self, en: Enrollment) -> None:
        self._contact_enrollments(en.contact)[en.id] = en
        self._enr[en.id] = en
        self._new_enr.add(en.id)
        self._wake.setdefault(en.id, None)
        self._rank[en.id] = self.rank_of(en)

    def get_enrollment(self, enrollment_id: int) -> Enrollment | None:
        en = self._enr.get(enrollment_id)
        if en is None and self.leasing:
            owner = self._c().execute(sa.select(enrollments.c.contact, enrollments.c.deal)
                                      .where(enrollments.c.id == enrollment_id)).first()
            if owner is not None:
                self._guard(lease.CONTACT, [owner[0]])
                self._guard(lease.DEAL, [owner[1]])
        if en is None:
            row = self._c().execute(sa.select(enrollments).where(enrollments.c.id == enrollment_id)).mappings().first()
            en = self._adopt(row) if row is not None else None
        return en

    def ended(self, en: Enrollment) -> None:
        self._wake[en.id] = None

    def active_enrollment(self, contact_id: str, playbook: str) -> Enrollment | None:
        found = None
        for en in self._contact_enrollments(contact_id).values():
            if en.playbook == playbook and en.status != ENDED:
                found = en
        return found

    def latest_enrollment(self, contact_id: str, playbook: str) -> Enrollment | None:
        found = None
        for en in self._contact_enrollments(contact_id).values():
            if en.playbook == playbook and (found is None or en.id > found.id):
                found = en
        return found

    def contact_enrollments(self, contact_id: str) -> list[Enrollment]:
        return [en for en in self._contact_enrollments(contact_id).values() if en.status != ENDED]

    def deal_enrollments(self, deal_id: str, playbook: str) -> list[Enrollment]:
        q = sa.select(enrollments).where(enrollments.c.deal == deal_id, enrollments.c.playbook == playbook,
                                         enrollments.c.status != ENDED)
        if self.leasing:
            self._guard(lease.DEAL, [deal_id])
            self._guard(lease.CONTACT, self._c().execute(q.with_only_columns(enrollments.c.contact)).scalars())
        for row in self._c().execute(q).mappings():
            self._adopt(row)
        return sorted((en for en in self._enr.values()
                       if en.deal == deal_id and en.playbook == playbook and en.status != ENDED),
                      key=lambda en: en.id)

    def enrollments(self) -> Iterable[Enrollment]:
        for row in self._c().execute(sa.select(enrollments).order_by(enrollments.c.id)).mappings():
            yield self._enr.get(int(row["id"])) or R.enrollment_from(row)

    def set_wake(self, enrollment_id: int, at: datetime | None, order: tuple) -> None:
        self._wake[enrollment_id] = at
        if at is not None:
            self._rank[enrollment_id] = order[0]

    def next_wake(self) -> datetime | None:
        sql = self._c().execute(sa.select(sa.func.min(enrollments.c.wake_at))).scalar()
        times = [instant(sql)] if sql is not None else []
        times += [t for t in self._wake.values() if t is not None]
        return min(times) if times else None

    def claim_due(self, t: datetime, limit: int) -> int:
        """Queue the next `limit` enrollments due at or before t (the wake
        index, in the same-instant order) and prefetch what they need."""
        e = enrollments.c
        q = (sa.select(enrollments).where(e.wake_at.is_not(None), e.wake_at <= epoch(t))
             .order_by(e.wake_at, e.rank, e.playbook, e.contact, e.id).limit(limit))
        if self.leasing:
            q = q.where(*lease.try_locks(enrollments)).with_for_update(skip_locked=True)
        rows = list(self._c().execute(q).mappings())
        if self.leasing:
            self._hold(rows)
            waiting = lease.pending_event_contacts(self._c(), [r["contact"] for r in rows], epoch(t) + MINUTE)
            rows = [r for r in rows if r["contact"] not in waiting]
        got = [self._adopt(row) for row in rows]
        self._due.extend(en.id for en in got)
        self._prefetch(got)
        return len(got)

    def pop_due(self, now: datetime) -> Enrollment | None:
        while self._due:
            eid = self._due.popleft()
            at = self._wake.get(eid)
            if at is None or at > now:
                continue
            self._wake[eid] = None
            return self._enr[eid]
        return None

    def _prefetch(self, batch: list[Enrollment]) -> None:
        cids = [en.contact for en in batch]
        self._load_contacts(cids)
        self._load_deals([en.deal for en in batch])
        self._load_events(cids)
        if self.prefetch_engagement:
            self._load_engagement(cids)
        sources: list[tuple[str, object]] = []
        if self.prefetch_sources["c"]:
            sources += [("c", c) for c in cids]
        if self.prefetch_sources["e"]:
            sources += [("e", en.id) for en in batch]
        if self.prefetch_sources["d"]:
            sources += [("d", en.deal) for en in batch if en.deal is not None]
        self.history.prefetch(sources)

    # ------------------------------------------------------------ enroll-when checks
    def set_check(self, key: tuple, at: datetime | None, order: tuple) -> None:
        self._checks[key] = (at, order[0] if at is not None else 0)

    def next_check(self) -> datetime | None:
        sql = self._c().execute(sa.select(sa.func.min(checks.c.at))).scalar()
        times = [instant(sql)] if sql is not None else []
        times += [at for at, _ in self._checks.values() if at is not None]
        return min(times) if times else None

    def claim_checks(self, t: datetime, limit: int) -> int:
        k = checks.c
        q = (sa.select(k.playbook, k.contact, k.deal, k.at).where(k.at <= epoch(t))
             .order_by(k.at, k.rank, k.playbook, k.contact, k.deal).limit(limit))
        if self.leasing:
            q = q.where(*lease.try_locks(checks, deal_blank="")).with_for_update(skip_locked=True)
        rows = list(self._c().execute(q).mappings())
        if self.leasing:
            self._hold(rows, deal_blank="")
        got = [(instant(r["at"]), ("when", r["playbook"], r["contact"], r["deal"])) for r in rows]
        self._check_queue.extend(got)
        cids = [key[2] for _, key in got]
        self._load_contacts(cids)
        self._load_events(cids)
        self._load_contact_enrollments(cids)
        self._load_deals_of(cids)
        self._load_deals([key[3] for _, key in got if key[3]] + [d for c in cids for d in self._deals_of[c]])
        return len(got)

    def pass_over_checks(self, t: datetime, programs: Iterable[Any]) -> int:
        """Move on, in SQL, the checks due at t whose candidates cannot match
        (segment_checks.py); the rest stay for claim_checks.  Returns how many."""
        if not self.segment_sql:
            return 0
        from .segment_checks import pass_over

        return pass_over(self._c(), programs, t, self.db.dialect, self.leasing)

    def pop_check(self, now: datetime) -> tuple[datetime, tuple] | None:
        while self._check_queue:
            at, key = self._check_queue.popleft()
            mine = self._checks.get(key)
            if mine is not None:
                if mine[0] is None or mine[0] > now:
                    continue
                at = mine[0]
            self._checks[key] = (None, 0)
            return at, key
        return None

    # ------------------------------------------------------------ actions, caps
    def add_action(self, rec: ActionRecord) -> None:
        if rec.key in self._keys:
            return
        self._keys.add(rec.key)
        en = self._enr.get(rec.enrollment)
        vars = dict(en.vars) if en is not None and en.vars and rec.kind != "set" else None
        self._actions.append((rec, vars))
        self.history.add(rec)
        self.counts[rec.kind] += 1

    def actions(self) -> Iterable[ActionRecord]:
        from .schema import actions as table

        for row in self._c().execute(sa.select(table).order_by(table.c.id)).mappings():
            yield R.action_from(row)[0]

    def accepted_sends(self) -> set[tuple[int, str, int, int]]:
        """Keys of the sends a channel accepted (SMTP 250, webhook 2xx): what
        `fsl report` shows as "accepted", apart from provider-confirmed delivery."""
        from .schema import actions as table

        q = sa.select(table.c.key).where(table.c.kind == "send", table.c.delivered_at.is_not(None))
        return {R.parse_key(k) for (k,) in self._c().execute(q)}

    def send_times(self, scope: Scope) -> Sequence[datetime]:
        return self.history.times(scope)

    def message(self, contact_id: str, step: str, before: datetime) -> ActionRecord | None:
        return self.history.message(contact_id, step, before)

    def cancel_pending(self, enrollment_id: int, reason: str) -> None:
        self._cancels[enrollment_id] = reason

    # ------------------------------------------------------------ suppressed addresses
    def suppress_address(self, address: str, at: datetime, reason: str, contact: str | None) -> None:
        """Write-through: committed with the batch that ingested the bounce (first one wins)."""
        self._c().execute(insert_ignore(self.db, suppressions).values(address=address, at=epoch(at),
                                                                      contact=contact, reason=reason))
        self._suppressed[address] = (at, reason)
        self._any_suppressed = True

    def address_suppression(self, address: str) -> tuple[datetime, str] | None:
        if address not in self._suppressed:
            row = self._c().execute(sa.select(suppressions.c.at, suppressions.c.reason)
                                    .where(suppressions.c.address == address)).first()
            self._suppressed[address] = (instant(row[0]), row[1]) if row is not None else None
        return self._suppressed[address]

    def has_suppressed_addresses(self) -> bool:
        """Asked once per transaction: with an empty list a send costs no lookup."""
        if self._any_suppressed is None:
            self._any_suppressed = self._c().execute(sa.select(suppressions.c.address).limit(1)).first() is not None
        return self._any_suppressed

    # ------------------------------------------------------------ experiments (v1.1)
    def split_sends(self, playbook: str, step: str) -> Sequence[ActionRecord]:
        """The sends of a step that carry a split's tag: the stored ones (not
        cancelled by a stop rule before they left) and this batch's."""
        from .schema import actions as table, split_sends as listed

        # the split's sends are listed as they are written (schema v15): no index of every send
        q = (sa.select(table).select_from(listed.join(table, table.c.key == listed.c.action_key))
             .where(listed.c.playbook == playbook, listed.c.step == step, table.c.kind == "send",
                    table.c.status != "cancelled").order_by(table.c.id))
        out = [rec for rec in (R.action_from(row)[0] for row in self._c().execute(q).mappings())
               if rec.data and "split" in rec.data]
        out += [rec for rec, _ in self._actions if rec.kind == "send" and rec.playbook == playbook
                and rec.step == step and rec.data and "split" in rec.data]
        # the test asks for these contacts' events next: read them in chunks, not one query each
        self._load_events({rec.contact for rec in out})
        return out

    def split_decision(self, playbook: str, split: str) -> SplitDecision | None:
        row = self._c().execute(sa.select(split_decisions).where(
            split_decisions.c.playbook == playbook, split_decisions.c.split == split)).mappings().first()
        return _decision(row) if row is not None else None

    def record_split_decision(self, decision: SplitDecision) -> None:
        """Write-through, first one wins (two workers finding it at once agree anyway)."""
        self._c().execute(insert_ignore(self.db, split_decisions).values(
            playbook=decision.playbook, split=decision.split, winner=decision.winner,
            decided_at=epoch(decision.decided_at), figures=dumps(decision.figures)))

    def split_decisions(self) -> list[SplitDecision]:
        q = sa.select(split_decisions).order_by(split_decisions.c.playbook, split_decisions.c.split)
        return [_decision(row) for row in self._c().execute(q).mappings()]

    # ------------------------------------------------------------ journal
    def journal(self, entry: JournalEntry) -> None:
        self._journal.append(entry)
        if entry.kind == "executed":
            self.counts["steps"] += 1

    def journal_entries(self) -> Iterable[JournalEntry]:
        for row in self._c().execute(sa.select(journal).order_by(journal.c.id)).mappings():
            yield R.journal_from(row)

    # ------------------------------------------------------------ write-back
    def flush(self) -> None:
        write_back(self)


def _decision(row: Any) -> SplitDecision:
    return SplitDecision(row["playbook"], row["split"], row["winner"], instant(row["decided_at"]),
                         loads(row["figures"]) or {})


CONTACT_COLUMNS = ("id", "fields", "version", "updated_at", "email_key")  # as put_contacts writes them
IMPORT_READ = 5000  # contacts read per query (fsl.io.load.CONTACTS_CHUNK: one query per chunk)


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _wall() -> datetime:
    return datetime.now(timezone.utc)

