"""Fewer garbage collections while the engine works through many steps.

CPython's cyclic collector runs a young-generation pass every 700 net
allocations of container objects.  A run allocates many small, short-lived
objects and few reference cycles, and they are freed by reference counting,
so the default threshold makes the collector walk the working set again and
again, promote it, and then run full collections over the whole heap.  One
context manager serves both users, each with its measured setting:

* work in batches (`batch_collections`: a production tick, the delivery
  process, `fsl contacts/deals/events import`): the first threshold at
  50,000.  On a 100,000-step tick the default ran 2,000 collections and 16
  full ones, 1.3 s of the 10 s the tick spent; at 50,000 the same tick runs 3
  collections in 0.02 s (fsl/store/README.md).
* an import (`import_collections`: `fsl contacts/deals/events import`): the
  young threshold of batches, and the older ones at least IMPORT_OLDER.  A
  deals or events file's objects stay alive until they are stored, so each
  older collection walks a heap that only grows: at 1,000,000 contacts, when
  contacts were still read whole (bench/import_speed.py), the batch setting
  ran 5 middle and one full collection, 1.4 s of a 14 s import; at
  IMPORT_OLDER no older one runs.  (Contacts are now stored as they are read.)
* a run on a virtual clock (`run_collections`, used by `Engine.run_until`):
  the first threshold at 200,000, the older ones at least 20, and what was
  alive on entry (contacts, plans, the memory store's indexes) frozen out of
  the scans: with the default settings those scans cost about a third of a
  large simulation's time.

On exit the previous thresholds come back, so a long-running `fsl worker` or a
library user collects as before.  Freezing is all-or-nothing in CPython
(`gc.unfreeze()` thaws every frozen object), so the heap is frozen only when
nothing is frozen yet: what a host application froze stays frozen, and a
nested run leaves the outer run's freeze alone.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

BATCH_YOUNG = 50_000  # net container allocations between young collections during batches
IMPORT_OLDER = 1_000  # young collections between middle ones (and middle between full) during an import
RUN_YOUNG = 200_000  # the same during a run on a virtual clock (CPython's default is 700)


@contextmanager
def fewer_collections(young: int, older: int = 0, freeze: bool = False) -> Iterator[None]:
    """Raise the thresholds to at least (young, older, older); optionally freeze the heap."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], young), *(max(b, older) for b in before[1:]))
    froze = freeze and gc.get_freeze_count() == 0
    if froze:
        gc.freeze()
    try:
        yield
    finally:
        if froze:
            gc.unfreeze()
        gc.set_threshold(*before)


def batch_collections():
    """The setting of a tick, a delivery process or an import: batches whose objects die with them."""
    return fewer_collections(BATCH_YOUNG)


def import_collections():
    """The setting of an import: batches, on a heap that grows until the end."""
    return fewer_collections(BATCH_YOUNG, older=IMPORT_OLDER)


def run_collections():
    """A run on a virtual clock's setting."""
    return fewer_collections(RUN_YOUNG, older=20, freeze=True)


def freeze_for_serving() -> None:
    """A server about to answer requests for hours (`fsl serve`): everything alive
    now -- modules, the config, templates, plans, the app -- is moved out of the
    collector's scans for good.  Measured on the console's /tasks page
    (bench/console_speed.py, 1M contacts): the full collections that walked that
    heap made p99 about 100 ms against a p50 of 27 ms; frozen, p99 is 31 ms.
    Nothing is leaked: frozen objects are still freed by reference counting."""
    if gc.get_freeze_count():
        return  # a host application froze its own heap already (see the module docstring)
    gc.collect()
    gc.freeze()
