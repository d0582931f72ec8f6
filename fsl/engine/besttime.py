"""`send at best time` (SIGNALS.md section 4): hold a send for the contact's best hour.

Two halves, both read and written through the `Store`'s maintained aggregate
(never the contact's whole history):

* at ingest, `record(...)` counts a human engagement (an `opened` or
  `clicked` that is not a machine's, a `replied` from a person) at the local
  hour it happened, for the contact and for the project;
* when a step that sends becomes due, `choose(...)` weighs the due instant
  and the starts of the local hours up to the ceiling that the windows and
  holidays allow, and returns the best: the contact's own count at that hour
  plus K pseudo-events spread like the project's (empirical Bayes), ties to
  the earliest.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from ..timecalc import next_allowed, to_local
from .model import Event

K = 10  # pseudo-events: how much history a contact needs before its own habit wins
HOURS = 24
_HOUR = timedelta(hours=1)


def human_engagement(e: Event) -> bool:
    """An open or click no machine made (absent `machine` is human), or a reply
    from a person (a reply recorded with no `kind` is one too)."""
    if e.type in ("opened", "clicked"):
        return e.fields.get("machine") in (None, False)
    if e.type == "replied":
        return e.fields.get("kind") in (None, "human")
    return False


def local_hour(at: datetime, zone: ZoneInfo) -> int:
    return to_local(at, zone).hour


@dataclass(frozen=True, slots=True)
class Choice:
    at: datetime  # the instant chosen (`now` when the send goes at once)
    hour: int  # its local hour
    own: int  # the contact's human engagements at that hour
    own_total: int
    share: float  # the project's share of human engagement at that hour
    now_hour: int
    now_score: float
    score: float


def choose(now: datetime, ceiling: datetime, zone: ZoneInfo, window: Any, holidays: Any,
           own: Sequence[int], project: Sequence[int]) -> Choice | None:
    """The best instant in [now, ceiling] (None: the project holds no human
    engagement, so nothing to go by).  `now` is always a candidate: the step
    is due and inside its window; the others are local HH:00 instants."""
    total = sum(project)
    if total <= 0:
        return None
    scores = [own[h] + K * project[h] / total for h in range(HOURS)]
    now_hour = local_hour(now, zone)
    best_at, best_hour = now, now_hour
    t = _next_hour_start(now, zone)
    # one zone conversion when no offset change lies between (the usual case):
    # each hour start then is the next local hour
    steady = now.astimezone(zone).utcoffset() == ceiling.astimezone(zone).utcoffset()
    h = local_hour(t, zone) - 1
    while t <= ceiling:
        h = (h + 1) % HOURS if steady else local_hour(t, zone)
        # strictly better only: ties go to the earliest
        if scores[h] > scores[best_hour] and (window is None and holidays is None
                                               or next_allowed(t, zone, window, holidays) <= t):
            best_at, best_hour = t, h
        t += _HOUR
    return Choice(best_at, best_hour, own[best_hour], sum(own), project[best_hour] / total,
                  now_hour, scores[now_hour], scores[best_hour])


def _next_hour_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The first local HH:00 after `now`, as an instant.  Stepping from it an
    hour at a time in absolute time stays on local hour starts (a zone's
    offset moves by whole hours at DST changes)."""
    local = now.astimezone(zone)
    return now - timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond) + _HOUR


def describe(c: Choice, within: str) -> str:
    """Why a send was held, for the journal and `fsl explain`."""
    if c.own_total:
        why = (f"the contact's best hour for human engagement ({c.own} of its {c.own_total} at that hour, "
               f"{c.share:.0%} of the project's)")
    else:
        why = (f"the project's best hour for human engagement ({c.share:.0%} of it; "
               f"the contact has none of its own yet)")
    return (f"best time: {c.hour:02d}:00 local, {why}; score {c.score:.2f} against {c.now_score:.2f} "
            f"at {c.now_hour:02d}:00 now; held at most {within} after due")
