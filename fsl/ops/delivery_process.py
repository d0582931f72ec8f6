"""Delivery in a process of its own, pipelined with the engine.

Why: rendering is CPU-bound Python (Jinja2), as is the engine, so a thread
would mostly wait for the GIL; a process uses the second core.  A large
tick then costs about max(engine, delivery) instead of their sum.

How (outbox.py decides when, see `Outbox._pipeline`):

1. The child is spawned -- not forked: the tick may run beside threads (an
   SMTP test server, a web app) whose locks a fork would copy mid-use.  It
   opens the store, builds an `Outbox` with its own owner token and sends
   ("ready", token).  Until then the tick delivers in-process.
2. From then on each engine batch writes its new actions already claimed by
   the child's token (`sending`, with the usual lease) in the batch's own
   transaction, so decisions and outbox rows still commit together.  After
   each commit the tick sends the keys; the child loads those rows (still
   `sending`, still its own), renders, hands over and settles them exactly as
   an in-process outbox does -- network channels one message at a time -- and
   acknowledges them.  On SQLite the two processes take write turns
   (fsl/store/turns.py); on PostgreSQL the child writes in shared mode like
   any worker.
3. The tick keeps at most WINDOW messages claimed ahead of the child (it
   waits for acknowledgements beyond that), so a slow channel slows the
   engine down as it did in-process, and no claim sits near its lease.
4. At the end the tick sends None; the child finishes what it was given,
   sends its counts and exits; the tick joins it and adds them to its report.

Failures lose nothing.  A child that dies (a bug, SIGKILL) is noticed by the
tick (end of file on the pipe), which delivers its later batches itself and,
once the child is joined, takes back the child's rows still `sending` (the
one message in flight is handed over again with the same Message-ID); they
go out in the same tick's drain, or the next tick's when this one was
stopped.  A tick that dies takes the child with it (PR_SET_PDEATHSIG on
Linux; elsewhere the child ends at end of file on the pipe), and the next
tick takes back their rows as any dead claimer's (outbox.recover).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import resource
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsl.store import turns as turns_mod

if TYPE_CHECKING:
    from .runtime import Runtime

WINDOW = 2000  # messages claimed for the child and not yet acknowledged, at most
READY_TIMEOUT = 60.0  # a forced (`delivery="process"`) start waits this long at most


def usable(runtime: "Runtime") -> str | None:
    """Why a delivery process cannot serve this runtime, or None when it can."""
    if not turns_mod.AVAILABLE:
        return "no flock on this platform"
    if runtime.db.is_sqlite and (runtime.db.engine.url.database or ":memory:") in (":memory:", ""):
        return "an in-memory SQLite store is private to its process"
    try:
        pickle.dumps((runtime.config, runtime.adapters))
    except Exception as exc:  # noqa: BLE001 - whatever makes them unpicklable
        return f"the channel overrides cannot be sent to another process ({type(exc).__name__})"
    return None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


@dataclass
class _Spec:
    """What the child needs to build its runtime (sent pickled at spawn)."""

    url: str
    config: Any
    templates: str
    adapters: dict
    llm_placeholder: bool
    now: datetime
    turns: str | None
    parent: int


class DeliveryProcess:
    """The tick's side of the child: start, hand over keys, finish."""

    def __init__(self, runtime: "Runtime", now: datetime) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self.turns = turns_mod.Turns.create() if runtime.db.is_sqlite else None
        spec = _Spec(runtime.db.url, runtime.config, str(runtime.templates.folder), runtime.adapters,
                     runtime.llm_placeholder, now, self.turns.folder if self.turns else None, os.getpid())
        self.process = ctx.Process(target=_main, args=(spec, child_conn), name="fsl-deliver", daemon=True)
        self.process.start()
        child_conn.close()
        self.state = "starting"  # -> active -> done, or failed
        self.token: str | None = None
        self.outstanding = 0
        self.waited = 0.0  # seconds the tick waited for the child (window full, end of tick)
        self.result: dict[str, Any] | None = None
        self.error: str | None = None

    @property
    def active(self) -> bool:
        return self.state == "active"

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the child serves claims now (waiting up to `wait` seconds for it)."""
        deadline = time.monotonic() + wait
        while self.state == "starting":
            self._read(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                break
        return self.active

    def send(self, keys: list[str]) -> bool:
        """Give the child the keys of rows claimed for it; False if it is gone
        (the rows then stay `sending` under its token until `finish` takes them back)."""
        if not self.active:
            return False
        try:
            self._conn.send(keys)
        except (OSError, ValueError) as exc:
            self._fail(f"the delivery process is gone ({type(exc).__name__})")
            return False
        self.outstanding += len(keys)
        t0 = time.perf_counter()
        self._read(0.0)
        while self.active and self.outstanding > WINDOW:
            self._read(1.0)
        self.waited += time.perf_counter() - t0
        return True

    def finish(self) -> dict[str, Any] | None:
        """Tell the child the tick is done, wait for its report and join it.
        None when it failed or never became ready (then it had nothing of ours)."""
        t0 = time.perf_counter()
        if self.state == "starting":
            self.process.kill()
            self.state = "failed"
            self.error = self.error or "stopped before it was ready"
        elif self.active:
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                self._fail("the delivery process is gone")
            while self.active and self.result is None:
                self._read(1.0)
        self.process.join()
        self._conn.close()
        if self.turns is not None:
            self.turns.close(remove=True)
        if self.active and self.result is not None and self.process.exitcode == 0:
            self.state = "done"
        elif self.active:
            self._fail(f"the delivery process exited with code {self.process.exitcode}")
        self.waited += time.perf_counter() - t0
        return self.result if self.state == "done" else None

    def _read(self, timeout: float) -> None:
        """Handle what the child sent, waiting up to `timeout` for the first message."""
        try:
            while self._conn.poll(timeout):
                timeout = 0.0
                kind, value = self._conn.recv()
                if kind == "ready":
                    self.token, self.state = value, "active"
                elif kind == "done":
                    self.outstanding -= value
                elif kind == "report":
                    self.result = value
                else:  # "error": the child's traceback
                    self._fail(value)
        except (EOFError, OSError):
            if self.state in ("starting", "active") and self.result is None:
                self._fail(f"the delivery process died (exit code {self._exitcode()})")

    def _exitcode(self) -> int | None:
        self.process.join(1.0)
        return self.process.exitcode

    def _fail(self, why: str) -> None:
        if self.state in ("starting", "active"):
            self.state = "failed"
            self.error = self.error or why


# ---------------------------------------------------------------- the child

def _follow_parent(parent: int) -> None:
    """Die with the tick (Linux): an orphan would keep its claims from the next tick."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _main(spec: _Spec, conn) -> None:
    _follow_parent(spec.parent)
    # ^C in a terminal reaches the whole process group: the tick decides when
    # to stop, then this process finishes what it was given (at most WINDOW).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        _serve(spec, conn)
    except BaseException:  # noqa: BLE001 - tell the tick why, then exit non-zero
        try:
            conn.send(("error", traceback.format_exc(limit=8)))
        except Exception:  # noqa: BLE001 - the tick is gone too
            pass
        os._exit(1)


def _serve(spec: _Spec, conn) -> None:
    from fsl.runtime.timing import iso
    from fsl.store import open_store
    from fsl.templates import TemplateStore

    from .outbox import Outbox
    from .runtime import Runtime, TickReport

    db = open_store(spec.url, create=False)
    if spec.turns is not None:
        db.gate = turns_mod.Turns(spec.turns).delivery
    rt = Runtime(spec.config, db, TemplateStore(Path(spec.templates)), adapters=spec.adapters,
                 llm_placeholder=spec.llm_placeholder, delivery="inline")
    report = TickReport(iso(spec.now))
    outbox = Outbox(rt, spec.now, report, recover_first=False)
    conn.send(("ready", outbox.token))
    busy = 0.0
    try:
        with db.sharing():  # PostgreSQL: settle in shared mode, beside the tick's batches
            while True:
                try:
                    keys = conn.recv()
                except EOFError:  # the tick is gone (no PDEATHSIG here): what it gave is done
                    break
                if keys is None:
                    break
                t0 = time.perf_counter()
                outbox.hand_over(outbox.load(keys))
                busy += time.perf_counter() - t0
                conn.send(("done", len(keys)))
    finally:
        outbox.close()
        rt.close()
    conn.send(("report", {
        "delivered": report.delivered, "retried": report.retried, "failed": report.failed,
        "failures": report.failures, "seconds": busy,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
