"""Group commit for `fsl serve` (SIGNALS.md: a signal is committed before its answer),
and the cache of the sent messages tracking tokens name.

Requests that arrive while a commit is running wait together and go in the
next one: one transaction (one `ingest_now`) for all of them, then every one
of them is answered.  Nothing is answered before its commit, and a lone
request is committed at once (no timer): under load the batches grow by
themselves, idle there is no added delay.  A failed commit fails every
request of its batch (each answers that nothing was recorded).
"""
from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Generic, TypeVar


T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 1000  # items per transaction: bounds the time one commit holds the store


class GroupCommit(Generic[T, R]):
    """`await submit(items)` returns once `commit` (run in a worker thread, one at a time)
    has committed a batch that holds them; `commit` gets every waiting item at once, and its
    result goes to every request of the batch (a lookup answers a dict by key)."""

    def __init__(self, commit: Callable[[list[T]], R], max_batch: int = MAX_BATCH) -> None:
        self._commit = commit
        self._max = max_batch
        # a thread of its own, one commit at a time: lighter than a hop through anyio's
        # shared pool, which costs a click a tenth of its CPU at small batches
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fsl-commit")
        self._waiting: list[tuple[list[T], asyncio.Future]] = []
        self._running = False

    async def submit(self, items: list[T]) -> R:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch: list[tuple[list[T], asyncio.Future]] = []
                size = 0
                while self._waiting and (not batch or size + len(self._waiting[0][0]) <= self._max):
                    items, future = self._waiting.pop(0)
                    batch.append((items, future))
                    size += len(items)
                await self._run(batch)
        finally:
            self._running = False

    async def _run(self, batch: list[tuple[list[T], asyncio.Future]]) -> None:
        everything = [item for items, _ in batch for item in items]
        try:
            result: Any = await asyncio.get_running_loop().run_in_executor(self._thread, self._commit, everything)
        except BaseException as exc:  # noqa: BLE001 - handed to each waiting request, which answers it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for _, future in batch:
            if not future.done():
                future.set_result(result)


class MessageCache:
    """Sent messages by outbox key, least recently used dropped past `limit`.  What a
    token resolves to (contact, enrollment, step, template) is fixed when the message is
    recorded, so a found message is kept; a key not found is not (it may be sent later)."""

    def __init__(self, limit: int = 50_000) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._limit = limit

    def get(self, key: str) -> Any:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: str, message: Any) -> None:
        if message is None:
            return
        self._items[key] = message
        if len(self._items) > self._limit:
            self._items.popitem(last=False)
