"""Caps (RUNTIME.md section 3 step 3): total caps end the enrollment, rolling
caps defer the step until the oldest counted send leaves the window.

A rolling cap counts the sends in the half-open interval (t - DURATION, t]
before the candidate instant t; DURATION in days or weeks is calendar-local
in the contact's zone, like every other duration.  A calendar cap (v1.1,
`per calendar week|month`) counts the sends of the local week (from Monday
00:00) or month containing t, and defers to the next one's start.  Which sends a cap counts
(its scope) is in store.py: the playbook's sends to the contact, the
playbook's sends to every stakeholder of the deal (`across deal`), every
send to the contact (a global cap), the enrollment's sends (`total`).
"""
from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .evaluate import add
from ..timecalc import calendar_period
from .executor import Segment
from .model import Enrollment
from .program import Cap
from .memstore import Store

_MINUTE = timedelta(minutes=1)


def scope(cap: Cap, en: Enrollment) -> tuple:
    ch = cap.channel
    if cap.scope == "contact":
        return ("contact", en.contact, ch)
    if cap.scope == "enrollment":
        return ("enrollment", en.id, ch)
    if cap.scope == "deal" and en.deal is not None:
        return ("deal", en.playbook, en.deal, ch)
    return ("playbook", en.playbook, en.contact, ch)  # `across deal` without a deal: the contact's


def total_exceeded(caps: list[Cap], seg: Segment, en: Enrollment, store: Store) -> Cap | None:
    """The first total cap that stops this step (RUNTIME.md 3.3).

    A cap without a channel that is already reached stops whatever step
    comes next, as the spec says ("if one is already reached, the step does
    not execute").  A cap on one channel (`cap sms 1 total`) reads as "at most
    one SMS", so it stops only a step that would send on that channel.  And
    no step may take a cap past its limit: a step whose sends would exceed
    it ends the enrollment too, so a total cap is never exceeded."""
    for cap in caps:
        k = seg.counted(cap)
        sent = len(store.send_times(scope(cap, en)))
        if cap.channel is None and sent >= cap.limit:
            return cap
        if k and sent + k > cap.limit:
            return cap
    return None


def rolling_ok_at(caps: list[Cap], seg: Segment, en: Enrollment, t: datetime, store: Store,
                  zone: ZoneInfo, holidays) -> tuple[datetime, Cap | None, bool]:
    """The earliest instant >= t at which the segment's sends fit every
    rolling cap, the cap that deferred it most (None when t itself is fine),
    and whether no instant ever fits (a step sends more than a cap allows)."""
    best, which = t, None
    for cap in caps:
        k = seg.counted(cap)
        if not k:
            continue
        if k > cap.limit:
            return t, cap, True
        times = store.send_times(scope(cap, en))
        if len(times) + k <= cap.limit:
            # even if every counted send were inside the window the step fits:
            # no calendar arithmetic needed (same answer, `excess` <= 0)
            continue
        if cap.calendar is not None:
            # (v1.1) the sends of this local week/month; too many: the next period's start
            start, end = calendar_period(t, zone, cap.calendar)
            inside = bisect.bisect_right(times, t) - bisect.bisect_left(times, start)
            if inside + k > cap.limit and end > best:
                best, which = end, cap
            continue
        per = cap.per
        if per is None:  # a total cap: never among the rolling ones (program.py)
            continue
        lower = add(t, per, zone, holidays, -1)
        first = bisect.bisect_right(times, lower)
        inside = bisect.bisect_right(times, t) - first
        excess = inside + k - cap.limit
        if excess <= 0:
            continue
        # the `excess` oldest counted sends must leave the window
        leaves = add(times[first + excess - 1], per, zone, holidays)
        if leaves <= t:  # calendar arithmetic at a DST edge: one more minute
            leaves = t.replace(second=0, microsecond=0) + _MINUTE
        if leaves > best:
            best, which = leaves, cap
    return best, which, False
