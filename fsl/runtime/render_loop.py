"""Where a tick's model calls run: an event loop in a thread of its own.

Why a thread: the outbox hands over one batch (compose, channel, settle: CPU
work in this thread) while the model writes the next one (network waits in
the loop's thread), so the requests in flight never drop to zero between
batches (bench/render_speed.py measures it).  The loop's coroutines only read
the store; every write stays in the caller's thread.

An in-memory SQLite store is one connection shared by every session, which a
second thread must not use while the first does: there the coroutines run to
completion in the caller's thread (`InlineLoop`), as before.
"""
from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any, Coroutine


class ThreadLoop:
    """An event loop running in a daemon thread until `close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fsl-model-calls", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.submit(coro).result()

    def close(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        """Cancel what is still running (a stopped tick's prefetched renders), run `last`, stop."""
        try:
            self.run(_finish(last))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join()
            self.loop.close()


class InlineLoop:
    """The same interface, each coroutine run to its end at once in this thread."""

    def __init__(self) -> None:
        self._runner = asyncio.Runner()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future:
        done: Future = Future()
        try:
            done.set_result(self._runner.run(coro))
        except Exception as exc:  # noqa: BLE001 - handed to whoever takes the result, as a thread's would be
            done.set_exception(exc)
        return done

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self._runner.run(coro)

    def close(self, last: Coroutine[Any, Any, Any] | None = None) -> None:
        try:
            if last is not None:
                self._runner.run(last)
        finally:
            self._runner.close()


async def _finish(last: Coroutine[Any, Any, Any] | None) -> None:
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    if last is not None:
        await last
