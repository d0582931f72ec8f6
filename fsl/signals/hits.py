"""A request on a tracked message's URL -> its verdict, its event and (a click) its target.

    outcome = judge(db, templates, message, "click", link_index, request, rules)

One write transaction reads the message's kept links (fsl.signals.handover)
and its recent hits, classifies the hit (fsl.signals.machine), and stores
it among the hits, so the next request on the same message sees it (bursts,
the trap).  The caller then records `outcome.event` as every signal is
recorded (fsl.signals.recording.record).

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
from fsl.store.codec import dumps, epoch, loads
from fsl.store.schema import events, tracking_hits

from . import machine, recording
from .handover import recall

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


def judge(db: Any, templates: Any, message: recording.Message, kind: str, link_index: int | None,
          request: Request, rules: machine.Rules, at: datetime) -> Outcome:
    """Classify and keep one hit (kind `click` or `open`) on `message`; see the module docstring."""
    with db.write() as conn:
        kept = recall(conn, message.key)
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
        hit = machine.Hit(hit_kind, link_index if hit_kind == "click" else None, request.at_ms,  # type: ignore[arg-type]
                          request.ip, request.user_agent, request.method)
        earlier = _earlier(conn, message.key, request.at_ms)
        facts = machine.Message(kept.handed_at_ms if kept is not None else None,
                                len(kept.links) if kept is not None else 0)
        verdict = machine.classify(hit, facts, earlier, rules)
        conn.execute(tracking_hits.insert().values(key=message.key, kind=hit_kind, link=hit.link,
                                                   at_ms=request.at_ms, machine=int(verdict.machine)))
        if verdict.reaches_back_s:
            _reclassify(conn, message, at, verdict.reaches_back_s,
                        "a hit on the hidden trap link came just after" if hit_kind == "trap"
                        else "part of a burst over the message's links")
    if hit_kind == "trap":
        return Outcome(None, None, trap=True)
    link = recording.Link(tag, url or "") if kind == "click" and tag is not None else None  # field `link`: the tag
    event = recording.tracking_event(kind, message, at, link)
    event.fields["machine"] = verdict.machine
    event.source = "tracking"
    event.evidence = verdict.evidence
    return Outcome(event, url)


def _earlier(conn: Any, key: str, at_ms: int) -> list[machine.Hit]:
    rows = conn.execute(sa.select(tracking_hits.c.kind, tracking_hits.c.link, tracking_hits.c.at_ms)
                        .where(tracking_hits.c.key == key, tracking_hits.c.at_ms >= at_ms - LOOKBACK_MS,
                               tracking_hits.c.at_ms <= at_ms)).all()
    return [machine.Hit(k, link, t) for k, link, t in rows]


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
