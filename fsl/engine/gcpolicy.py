"""Garbage collection while the engine works through a long run.

The engine allocates many small, short-lived objects and few reference
cycles, while the store's data stays alive for the whole run.  With the
default thresholds CPython re-scans that long-lived heap ever more often, and
the scans cost about a third of a large simulation's time.  Inside `relaxed()`
a young collection runs less often, and what was alive on entry (contacts,
plans, the store's indexes) is frozen out of the scans; on exit the previous
settings come back and the frozen objects are handed back to the collector, so
a library user's own settings are left as they were.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

_YOUNG = 200_000  # allocations between young collections (CPython's default is 700)


@contextmanager
def relaxed():
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], _YOUNG), max(before[1], 20), max(before[2], 20))
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
