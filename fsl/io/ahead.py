"""Reading a file while the store writes what was read before it.

`fsl contacts import` alternates two kinds of work: reading and converting a
batch of rows (Python, holding the GIL) and writing the batch before it
(SQLite or PostgreSQL, which release the GIL while they work).  `read_ahead`
runs the reading in a thread of its own, a bounded number of batches ahead,
so the database's share of an import overlaps the next batch's reading
instead of following it.  Nothing is copied or pickled (unlike a second
process, see docs/DECISIONS.md, stop 14), so it costs no extra CPU; on a
machine with one free core it is as fast as reading in turn.

The store is used by the caller's thread only; the reading thread touches
nothing but the file and what it yields (and the import's problem lists,
which the caller reads once the batches are done).
"""
from __future__ import annotations

import queue
import threading
from typing import Generator, Iterator, TypeVar

T = TypeVar("T")

DEPTH = 2  # batches read ahead of the one being written: enough to keep both sides busy
_POLL = 0.2  # seconds between looks at `stop` while the queue is full (the caller stopped early)


def read_ahead(items: Iterator[T], depth: int = DEPTH) -> Generator[T, None, None]:
    """`items`, advanced by a thread of their own up to `depth` items ahead.
    An exception raised while advancing them is raised here, where it would
    have been; when the caller stops early and closes this generator (or it is
    collected), the thread stops after the item it is reading."""
    handoff: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def give(item: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not give((True, item)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            give((False, exc))
            return
        give((False, None))

    thread = threading.Thread(target=produce, name="fsl-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            more, item = handoff.get()
            if not more:
                if item is not None:
                    raise item  # type: ignore[misc]  # (an exception, from produce)
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
