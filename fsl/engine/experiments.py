"""Splits (v1.1, SIGNALS.md section 4): which variant an enrollment takes,
and the figures behind `pick winner by`.

* The assignment is a pure function of (contact id, playbook, split): the
  simulator and production, every replay and every redeploy agree.
* The figures come from the store through the same two calls in both stores
  (`split_sends`, `contact_events`), so a decision found by `fsl simulate`
  is the one production finds from the same data.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_right
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Sequence
from zoneinfo import ZoneInfo

from .evaluate import Dur, add
from .model import ActionRecord, Event, SplitDecision
from .sequential import Arm, Verdict, decide

if TYPE_CHECKING:
    from .memstore import Store
    from .program import Split

BUCKETS = 10000
UTC = ZoneInfo("UTC")  # the window of a send is counted in UTC: the same for every contact


def bucket(contact_id: str, playbook: str, split: str) -> int:
    """SIGNALS.md section 4, exactly: the first 8 bytes of the SHA-256 of the
    three names joined by U+001F, big-endian, modulo 10000."""
    digest = hashlib.sha256(f"{contact_id}\x1f{playbook}\x1f{split}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def variant_of(bounds: list[int], b: int) -> int:
    """The index of the variant whose bucket range holds b."""
    return min(bisect_right(bounds, b), len(bounds) - 1)


def human(event: Event) -> bool:
    """Engagement a person made: opens and clicks not flagged `machine`, replies
    that are not automatic (out of office, auto-reply, unsubscribe request)."""
    if event.type in ("opened", "clicked"):
        return event.fields.get("machine") is not True
    if event.type == "replied":
        return event.fields.get("kind") in (None, "human")
    return True


class Trial(NamedTuple):
    """One send of a variant: when it went out and when it first had the event (or None).
    A tuple: the test builds one per send and hour, and a frozen dataclass costs
    several times more to build."""

    variant: str
    sent_at: datetime
    engaged_at: datetime | None


def trials(store: Store, playbook: str, split: Split, event: str, now: datetime) -> list[Trial]:
    """Every send a variant of `split` made before now, with its first human
    `event` up to now.  An event naming a message counts for that message
    only; one naming none (a custom event such as `purchased`) for the contact."""
    out: list[Trial] = []
    name = split.name
    for rec in store.split_sends(playbook, split.step):
        tag = rec.data
        if tag is None or tag.get("split") != name or rec.at > now:
            continue
        out.append(Trial(str(tag.get("variant")), rec.at, _first(store, rec, event, now)))
    return out


def _first(store: Store, rec: ActionRecord, event: str, now: datetime) -> datetime | None:
    for e in store.contact_events(rec.contact, event):  # sorted by time
        if e.at > now:
            break
        if e.at < rec.at or not human(e):
            continue
        if e.step is not None and (e.step != rec.step or e.enrollment != rec.enrollment):
            continue
        return e.at
    return None


def tally(found: Sequence[Trial], names: list[str], within: Dur, now: datetime) -> list[Arm]:
    """Per variant: the sends that count (older than `within`, or already with
    the event inside it) and how many of those had the event inside it."""
    counted = dict.fromkeys(names, 0)
    hits = dict.fromkeys(names, 0)
    # in UTC a day is always 24 hours: only business days need the calendar
    fixed = None if within.unit == "business_days" else add(now, within, UTC, None) - now
    for t in found:
        if t.variant not in counted:
            continue  # a variant renamed away by a redeploy
        end = t.sent_at + fixed if fixed is not None else add(t.sent_at, within, UTC, None)
        hit = t.engaged_at is not None and t.engaged_at <= end and t.engaged_at <= now
        if hit or end <= now:
            counted[t.variant] += 1
            hits[t.variant] += hit
    return [Arm(n, counted[n], hits[n]) for n in names]


def verdict(store: Store, playbook: str, split: Split, now: datetime) -> Verdict | None:
    """The sequential test at this instant (None for a split without `pick winner`)."""
    if split.pick is None:
        return None
    arms = tally(trials(store, playbook, split, split.pick.event, now), split.names(), split.pick.within, now)
    return decide(arms, split.pick.confidence)


def look_at(now: datetime) -> datetime:
    """The data the test looks at: as of the start of the UTC hour.  Looking
    less often than every instant keeps the guarantee (it holds for any looks)
    and makes the figures a function of the data and the hour alone, so any
    process, with or without a cache, finds the same decision at the same
    instant; the test then costs one pass over the sends per split and hour."""
    return now.replace(minute=0, second=0, microsecond=0)


class Chooser:
    """Which variant a split gives an enrollment that has none yet: the
    recorded winner, else its bucket.  The sequential test runs at most once
    per split and hour (look_at); every enrollment reaching the split in that
    hour sees the same figures."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # (playbook, split) -> (the hour looked at, its winner or None, its figures)
        self._looked: dict[tuple[str, str], tuple[datetime, str | None, dict]] = {}

    def decision(self, playbook: str, split: Split, now: datetime) -> SplitDecision | None:
        found = self.store.split_decision(playbook, split.name)
        if found is not None or split.pick is None:
            return found
        key = (playbook, split.name)
        look = look_at(now)
        seen = self._looked.get(key)
        if seen is None or seen[0] != look:
            v = verdict(self.store, playbook, split, look)
            winner = v.winner if v is not None else None
            figures = {**v.figures(), "data_as_of": look.strftime("%Y-%m-%dT%H:%M:%SZ")} if v is not None else {}
            seen = self._looked[key] = (look, winner, figures)
        if seen[1] is None:
            return None
        # the first split to execute once the figures show a winner records it, at its own instant
        found = SplitDecision(playbook, split.name, seen[1], now, dict(seen[2]))
        self.store.record_split_decision(found)
        return found

    def choose(self, playbook: str, split: Split, contact_id: str, now: datetime) -> tuple[int, str]:
        """(variant index, the reason, for the journal)."""
        names = split.names()
        won = self.decision(playbook, split, now)
        if won is not None and won.winner in names:
            p = won.figures.get("p_value")
            return names.index(won.winner), (
                f"split {split.name}: variant {won.winner}, the winner by {split.pick.event if split.pick else '?'} "
                f"decided at {won.decided_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
                + (f" (always-valid p = {p:.4g})" if isinstance(p, float) else ""))
        b = bucket(contact_id, playbook, split.name)
        i = variant_of(split.bounds, b)
        lo = split.bounds[i - 1] if i else 0
        return i, (f"split {split.name}: variant {names[i]} (bucket {b} in [{lo}, {split.bounds[i]}), "
                   f"{split.percents[i]:g}%)")
