"""Requests on tracked messages' URLs -> their verdicts, events and (a click) targets.

    events = judge_all(conn, templates, pending, rules, at)   # fsl serve: a group, in its transaction
    outcome = judge(db, templates, message, "click", link_index, request, rules, at)   # one, alone

In the caller's write transaction, the group's messages' kept links
(fsl.signals.handover) and recent hits are read once; each hit, in arrival
order, is classified (fsl.signals.machine) and stored among the hits, so
the next request on the same message sees it (bursts, the trap).  `fsl
serve` records the returned events in that same transaction
(Runtime.ingest_now's `prepare`).

* A click resolves its URL from the links kept at hand-over; a message sent
  without the rewrite (no kept links) falls back to its template's `links:`
  in order, the numbering fsl.signals.tokens documents.  An index with no
  URL records the click (nothing is dropped) and has nowhere to go.
* A hit on the trap link is kept as a hit (the evidence for the hits
  around it) and records no event: it is no engagement of anyone's, and it
  answers 200 with an empty page.
* A trap hit or a burst also turns the message's events of the moments
  before it into a machine's (`_reclassify`): the scanner made those too.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fsl.engine.model import Event
from fsl.store import bulk
from fsl.store.codec import dumps, epoch, loads
from fsl.store.schema import events, tracking_hits

from . import machine, recording
from .handover import TrackedMessage, recall_all

HIT_COLUMNS = ("key", "kind", "link", "at_ms", "machine")
LOOKBACK_MS = 15 * 60 * 1000  # the hits a verdict looks at: far more than any window of machine.Rules


@dataclass(frozen=True)
class Request:
    """What the HTTP request says about its caller."""

    at_ms: int  # wall clock
    ip: str | None
    user_agent: str | None
    method: str = "GET"


@dataclass(frozen=True)
class Outcome:
    event: Event | None  # None: a trap hit
    url: str | None  # a click's target; None when there is none
    trap: bool = False


def rules_for(server: Any, folder: Path | None = None) -> machine.Rules:
    """The rules of `server.machine` (its lists file relative to the project folder)."""
    settings = getattr(server, "machine", None)
    after = float(getattr(settings, "after_delivery", 30.0) or 0.0)
    path = getattr(settings, "lists", None)
    if path is not None:
        full = Path(path) if Path(path).is_absolute() or folder is None else folder / path
        return machine.Rules(after_delivery_s=after, lists=_lists(full))
    return machine.Rules(after_delivery_s=after, lists=_lists(None))


@functools.lru_cache(maxsize=4)
def _lists(path: Path | None) -> machine.Lists:
    return machine.load_lists(path)


@dataclass
class Pending:
    """One click or open waiting for its group's commit (fsl.signals.batching): what the
    request said, and, once judged, its outcome."""

    message: recording.Message
    kind: str  # click | open
    link_index: int | None
    request: Request
    outcome: Outcome | None = None


def judge(db: Any, templates: Any, message: recording.Message, kind: str, link_index: int | None,
          request: Request, rules: machine.Rules, at: datetime) -> Outcome:
    """Classify and keep one hit (kind `click` or `open`) on `message` in a transaction of its own."""
    one = Pending(message, kind, link_index, request)
    with db.write() as conn:
        judge_all(conn, templates, [one], rules, at)
    assert one.outcome is not None
    return one.outcome


def judge_all(conn: Any, templates: Any, batch: list[Pending], rules: machine.Rules, at: datetime,
              known: dict[str, TrackedMessage | None] | None = None) -> list[Event]:
    """Classify and keep a group's hits in the caller's transaction, in arrival order (a hit
    sees the ones before it, stored or in this group: bursts, the trap); sets each one's
    outcome and returns the events to record (a trap hit records none).  Two reads for the
    whole group: the kept links of its messages and their recent hits.  `known`: the kept
    links read before, by key, None for a message sent without them (the caller's cache: a
    token is followed once its message was handed over, and what was kept then is final),
    completed here with what this group reads."""
    keys = sorted({hit.message.key for hit in batch})
    kept: dict[str, TrackedMessage | None] = {} if known is None else {k: known[k] for k in keys if k in known}
    missing = [k for k in keys if k not in kept]
    if missing:
        read = recall_all(conn, missing)
        for key in missing:
            kept[key] = read.get(key)
        if known is not None:
            known.update((key, kept[key]) for key in missing)
    earlier = _earlier(conn, keys, min(hit.request.at_ms for hit in batch))
    rows: list[tuple] = []
    found: list[Event] = []
    for hit in batch:
        verdict, seen = _judged(hit, kept.get(hit.message.key), earlier.setdefault(hit.message.key, []),
                                templates, rules, at)
        earlier[hit.message.key].append(seen)
        rows.append((hit.message.key, seen.kind, seen.link, seen.at_ms, int(verdict.machine)))
        if verdict.reaches_back_s:
            bulk.insert(conn, tracking_hits, HIT_COLUMNS, rows)  # the hits so far, before rereading the events
            rows = []
            _reclassify(conn, hit.message, at, verdict.reaches_back_s,
                        "a hit on the hidden trap link came just after" if seen.kind == "trap"
                        else "part of a burst over the message's links")
        assert hit.outcome is not None
        if hit.outcome.event is not None:
            found.append(hit.outcome.event)
    if rows:
        bulk.insert(conn, tracking_hits, HIT_COLUMNS, rows)
    return found


def _judged(hit: Pending, kept: TrackedMessage | None, earlier: list[machine.Hit], templates: Any,
            rules: machine.Rules, at: datetime) -> tuple[machine.Verdict, machine.Hit]:
    """The verdict on one hit and the hit as kept; sets `hit.outcome`."""
    message, kind, link_index, request = hit.message, hit.kind, hit.link_index, hit.request
    url, tag = None, None
    hit_kind = kind
    if kind == "click" and link_index is not None:
        if kept is not None:
            if link_index == kept.trap:
                hit_kind = "trap"
            elif link_index < len(kept.links):
                tag, url = kept.links[link_index]
        else:
            links = recording.message_links(templates, message)
            if link_index < len(links):
                tag, url = links[link_index].tag, links[link_index].url
    seen = machine.Hit(hit_kind, link_index if hit_kind == "click" else None, request.at_ms,  # type: ignore[arg-type]
                       request.ip, request.user_agent, request.method)
    facts = machine.Message(kept.handed_at_ms if kept is not None else None,
                            len(kept.links) if kept is not None else 0)
    window = [h for h in earlier if request.at_ms - LOOKBACK_MS <= h.at_ms <= request.at_ms]
    verdict = machine.classify(seen, facts, window, rules)
    if hit_kind == "trap":
        hit.outcome = Outcome(None, None, trap=True)
        return verdict, seen
    link = recording.Link(tag, url or "") if kind == "click" and tag is not None else None  # field `link`: the tag
    event = recording.tracking_event(kind, message, at, link)
    event.fields["machine"] = verdict.machine
    event.source = "tracking"
    event.evidence = verdict.evidence
    hit.outcome = Outcome(event, url)
    return verdict, seen


# built once: a group's reads are the same statements with other values (no per-commit compile)
_RECENT = (sa.select(tracking_hits.c.key, tracking_hits.c.kind, tracking_hits.c.link, tracking_hits.c.at_ms)
           .where(tracking_hits.c.key.in_(sa.bindparam("keys", expanding=True)),
                  tracking_hits.c.at_ms >= sa.bindparam("since"))
           .order_by(tracking_hits.c.at_ms))


def _earlier(conn: Any, keys: list[str], at_ms: int) -> dict[str, list[machine.Hit]]:
    """The stored hits of the last LOOKBACK_MS on each of the messages, oldest first."""
    found: dict[str, list[machine.Hit]] = {}
    for i in range(0, len(keys), 500):
        for key, kind, link, t in conn.execute(_RECENT, {"keys": keys[i:i + 500], "since": at_ms - LOOKBACK_MS}):
            found.setdefault(key, []).append(machine.Hit(kind, link, t))
    return found


def _reclassify(conn: Any, message: recording.Message, at: datetime, seconds: float, why: str) -> int:
    """The message's tracking events of the last `seconds` before `at` that were recorded as a
    person's become a machine's, with the reason added to their evidence.  What the engine
    already did on them stands (a stop applied at once stays applied); every later
    `opened(...)`/`clicked(...)` reads the rows again and no longer counts them."""
    since = epoch(at) - math.ceil(seconds)
    rows = conn.execute(sa.select(events.c.id, events.c.fields, events.c.evidence).where(
        events.c.enrollment == message.enrollment, events.c.step == message.step,
        events.c.source == "tracking", events.c.type.in_(("opened", "clicked")),
        events.c.at >= since, events.c.at <= epoch(at))).all()
    changed = 0
    for row_id, fields_text, evidence_text in rows:
        fields = loads(fields_text) or {}
        if fields.get("machine") is True:
            continue
        fields["machine"] = True
        evidence = [e for e in (loads(evidence_text) or []) if e != "no machine evidence"] + [why]
        conn.execute(events.update().where(events.c.id == row_id).values(fields=dumps(fields),
                                                                          evidence=dumps(evidence)))
        changed += 1
    return changed
