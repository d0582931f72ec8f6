"""Imported objects -> the production store, through the runtime's data API.

The readers decide what a file says; this module decides what that changes:

* contacts and deals are merged into what is stored (fsl.io.merge), and only
  real changes are written (`Runtime.merge_contacts` / `put_deals`, which also
  schedule `enroll when` checks as the engine does).  Contacts go
  CONTACTS_CHUNK at a time: one SELECT and one bulk write per chunk, or, while
  the chunks turn out all new, one INSERT and no SELECT; never a statement
  per contact (a CRM export has a million rows);
* events are counted against the events already stored with the same
  content (instant to the minute, type, contact, deal, step, fields): a file
  imported twice records each event once.  An event for an unknown contact,
  deal or message is recorded anyway and reported.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import sqlalchemy as sa

from fsl.config import ENGAGEMENT_EVENTS
from fsl.engine.model import Deal, Event
from fsl.engine.timing import minute_floor

from .keys import event_key
from .merge import merge_contact, merge_deal
from .result import ContactBatch, ImportResult, RowProblem

CHUNK = 500
CONTACTS_CHUNK = 5000  # contacts read, merged and written per transaction (see the module docstring)
Progress = Callable[[str, int], None] | None  # (what, how many more), as fsl.cli.common.progress


@dataclass
class LoadReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    recorded: int = 0  # events
    duplicates: int = 0  # events already in the store
    notes: list[RowProblem] = field(default_factory=list)  # warnings found against the store

    def to_json(self, kind: str) -> dict[str, Any]:
        if kind == "events":
            return {"recorded": self.recorded, "duplicates": self.duplicates}
        return {"imported": self.created + self.updated + self.unchanged, "created": self.created,
                "updated": self.updated, "unchanged": self.unchanged}


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def load_contacts(runtime: Any, result: ImportResult, progress: Progress = None) -> LoadReport:
    """Store the contacts read (`result.good`, or batch by batch from `result.stream`).

    While every contact of a chunk turns out new (a first import), the next chunk
    is offered to the runtime as new too (`merge_contacts(new=True)`: one INSERT,
    no SELECT); a chunk with a stored contact goes the usual way and ends that."""
    report = LoadReport()
    unchanged: set[str] = set()  # what a repeat on a later batch may still change
    fresh = True  # whether every contact of the last chunk was new
    batches = result.stream if result.stream is not None else iter([ContactBatch(result.good, result.lines)])
    for batch in batches:
        for start in range(0, len(batch.contacts), CONTACTS_CHUNK):
            chunk = batch.contacts[start:start + CONTACTS_CHUNK]
            texts = batch.texts[start:start + CONTACTS_CHUNK] if batch.texts is not None else None
            # (a repeat was stored by an earlier batch: such a chunk is never all new)
            merged = runtime.merge_contacts(chunk, merge_contact, new=fresh and not batch.repeats, texts=texts)
            if batch.repeats:
                _count_with_repeats(report, chunk, merged, batch.repeats, unchanged)
                fresh = False
            else:
                fresh = _count_chunk(report, chunk, merged, unchanged)
            if progress is not None:
                progress("contacts", len(chunk))
    return report


def _count_chunk(report: LoadReport, chunk: list, merged: list[tuple[Any, bool]], unchanged: set[str]) -> bool:
    """Count the chunk's contacts; True when every one was created."""
    if not merged:
        return True
    stored_all, changes = zip(*merged)
    created = stored_all.count(None)  # (a contact not stored yet is always a change: merge_contact)
    updated = changes.count(True) - created
    report.created += created
    report.updated += updated
    if len(merged) > created + updated:
        same = [c.id for c, (stored, is_change) in zip(chunk, merged) if stored is not None and not is_change]
        report.unchanged += len(same)
        unchanged.update(same)
    return created == len(merged)


def _count_with_repeats(report: LoadReport, chunk: list, merged: list[tuple[Any, bool]], repeats: set[str],
                        unchanged: set[str]) -> None:
    """A repeat is no contact of its own: it can only turn its first line's
    `unchanged` into `updated` (a contact created or updated stays so)."""
    for contact, (stored, is_change) in zip(chunk, merged):
        if contact.id not in repeats:
            _count_chunk(report, [contact], [(stored, is_change)], unchanged)
        elif is_change and contact.id in unchanged:
            unchanged.discard(contact.id)
            report.unchanged -= 1
            report.updated += 1


def load_deals(runtime: Any, result: ImportResult, progress: Progress = None) -> LoadReport:
    report = LoadReport()
    lines = dict(zip(result.keys, result.lines))
    for chunk in _chunks(list(result.good)):
        changed: list[Deal] = []
        with runtime.store.snapshot() as store:
            store.prefetch_entities({cid for d in chunk for cid in d.stakeholders}, [d.id for d in chunk])
            for imported in chunk:
                stored = store.get_deal(imported.id)
                merged, is_change = merge_deal(stored, imported, imported.id in result.replace_stakeholders)
                _count(report, stored, is_change)
                for cid in imported.stakeholders:
                    if store.get_contact(cid) is None:
                        report.notes.append(RowProblem(lines.get(imported.id, 0),
                                                       f"deal {imported.id}: stakeholder {cid} is not a known "
                                                       "contact yet (linked anyway; import the contact)"))
                if is_change:
                    changed.append(merged)
        if changed:
            runtime.put_deals(changed)
        if progress is not None:
            progress("deals", len(chunk))
    return report


def _count(report: LoadReport, stored: Any, changed: bool) -> None:
    if stored is None:
        report.created += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1


def load_events(runtime: Any, events: Iterable[Event], lines: Iterable[int],
                progress: Progress = None) -> LoadReport:
    """Record the events not stored yet; report unknown contacts, deals and messages."""
    report = LoadReport()
    pairs = list(zip(events, lines))
    for chunk in _chunks(pairs):
        fresh: list[Event] = []
        with runtime.store.snapshot() as store:
            for event, _ in chunk:
                event.at = minute_floor(event.at)
            stored = duplicates(store.conn, [e for e, _ in chunk])
            for (event, line), duplicate in zip(chunk, stored):
                if duplicate:
                    report.duplicates += 1
                    continue
                report.notes.extend(RowProblem(line, note) for note in unknowns(store, event))
                fresh.append(event)
        if fresh:
            report.recorded += runtime.record_events(fresh)
        if progress is not None:
            progress("events", len(chunk))
    return report


def unknowns(store: Any, event: Event) -> list[str]:
    """Why an event may not do what its sender expects (kept all the same)."""
    notes = []
    if event.contact is not None and store.get_contact(event.contact) is None:
        notes.append(f"{event.type}: contact {event.contact} is not known; the event is kept")
    if event.deal is not None and store.get_deal(event.deal) is None:
        notes.append(f"{event.type}: deal {event.deal} is not known; the event is kept")
    if (event.step is not None and event.contact is not None and event.type in ENGAGEMENT_EVENTS
            and not notes and store.message(event.contact, event.step, event.at) is None):
        notes.append(f"{event.type}: no message of step {event.step} was sent to {event.contact}; "
                     "the event is kept")
    return notes


def duplicates(conn: Any, events: list[Event]) -> list[bool]:
    """For each event, whether the store holds it already (by content, as many times as it
    occurs here): what makes a second import of the same file, or a webhook's retry, a no-op."""
    stored = _stored_counts(conn, events)
    seen: Counter = Counter()
    out = []
    for event in events:
        key = event_key(event)
        seen[key] += 1
        out.append(seen[key] <= stored.get(key, 0))
    return out


def _stored_counts(conn: Any, events: list[Event]) -> Counter:
    """How many stored events have the content of each of these (by event_key)."""
    from fsl.store.codec import epoch, instant, loads
    from fsl.store.schema import events as table

    counts: Counter = Counter()
    wanted = {(e.contact, e.type, epoch(minute_floor(e.at))) for e in events}
    cols = (table.c.at, table.c.type, table.c.contact, table.c.deal, table.c.step, table.c.fields)
    for contact, etype, at in sorted(wanted, key=lambda w: (w[0] or "", w[1], w[2])):
        who = table.c.contact.is_(None) if contact is None else table.c.contact == contact
        q = sa.select(*cols).where(who, table.c.type == etype, table.c.at == at)  # ix_events_contact
        for row in conn.execute(q):
            stored = Event(instant(row.at), row.type, row.contact, row.deal, row.step, loads(row.fields) or {})
            counts[event_key(stored)] += 1
    return counts
