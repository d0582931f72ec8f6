"""Delivery in a process of its own, pipelined with the engine.

Why: rendering is CPU-bound Python (Jinja2), as is the engine, so a thread
would mostly wait for the GIL; a process uses the second core.  A large
tick then costs about max(engine, delivery) instead of their sum.

How (outbox.py decides when, see `Outbox._pipeline`):

1. The child is a fresh interpreter (`python -c`), talking over a socket
   pair.  Not a fork: the tick may run beside threads (an SMTP test server,
   a web app) whose locks a fork would copy mid-use.  Not multiprocessing's
   spawn either: it re-runs the caller's main module, and a script without
   an `if __name__ == "__main__"` guard would run again, tick and all.  The
   child gets what it needs pickled (config, channel overrides -- which must
   be importable by name -- the store URL and its owner token, which the
   tick names from its pid as soon as it exists), opens the store and says
   ("ready", token) before it reads anything else.
2. From its start each engine batch writes its new actions already claimed
   by the child's token (`sending`, with the usual lease) in the batch's own
   transaction, so decisions and outbox rows still commit together.  After
   each commit the tick sends the keys; the child loads those rows (still
   `sending`, still its own), renders, hands over and settles them exactly as
   an in-process outbox does -- network channels one message at a time -- and
   acknowledges them.  On SQLite the two processes take write turns
   (fsl/store/turns.py) and the outcomes of local channels are written by
   the tick's next batch (outbox.Outcomes); on PostgreSQL the child writes
   in shared mode like any worker.
3. The tick keeps at most two batches of messages claimed ahead of the
   child, waiting for acknowledgements beyond that: enough to keep both cores
   busy, and a slow channel slows the engine down as it did in-process.
   While the child starts (~1 s) and until it has worked through what was
   queued meanwhile, forty.  What a crash leaves claimed and not handed
   over -- taken back, at the cost of an attempt -- stays that small, and no
   claim sits near its lease.
4. At the end the tick sends None; the child finishes what it was given,
   sends its counts and exits; the tick joins it and adds them to its report.
   A child not up by then is stopped instead, and what was claimed for it is
   taken back untouched (it says "ready" before reading any key, so without
   that message it handed nothing over) and delivered by the tick's drain.

Failures lose nothing.  A child that dies (a bug, SIGKILL) is noticed by the
tick (end of file on the pipe), which delivers its later batches itself and,
once the child is joined, takes back the child's rows still `sending` (the
one message in flight is handed over again with the same Message-ID); they
go out in the same tick's drain, or the next tick's when this one was
stopped.  A tick that dies takes the child with it (PR_SET_PDEATHSIG on
Linux; elsewhere the child ends at end of file on the pipe), and the next
tick takes back their rows as any dead claimer's (claims.recover).
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsl.store import turns as turns_mod

from .settling import Outcomes

if TYPE_CHECKING:
    from .runtime import Runtime

WINDOW_BATCHES = 2  # engine batches of messages claimed for the child and not acknowledged, at most
STARTUP_BATCHES = 40  # the same while it starts (~1 s: ~20 batches of the engine)
READY_TIMEOUT = 60.0  # a child not up after this long is given up (a forced start waits as long)


def usable(runtime: "Runtime") -> str | None:
    """Why a delivery process cannot serve this runtime, or None when it can."""
    if not turns_mod.AVAILABLE:
        return "no flock on this platform"
    if runtime.db.is_sqlite and (runtime.db.engine.url.database or ":memory:") in (":memory:", ""):
        return "an in-memory SQLite store is private to its process"
    for name, adapter in runtime.adapters.items():
        if type(adapter).__module__ == "__main__":  # pickled by name, then not found by the child
            return f"the override of channel {name} is defined in __main__, which the delivery process cannot import"
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
    token: str


class DeliveryProcess:
    """The tick's side of the child: start, hand over keys, finish.

    `state`: active (from the start: its token is known as soon as the
    process exists, so claims can go to it while it starts), then done,
    failed, or unused (the tick ended before it was up)."""

    def __init__(self, runtime: "Runtime", now: datetime) -> None:
        from .claims import owner_token

        ours, theirs = socket.socketpair()
        env = dict(os.environ)  # the caller's import path, for fsl and the overrides' modules
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-c", "from fsl.runtime.delivery_process import main; main()",
                 str(theirs.fileno())],
                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.turns = turns_mod.Turns.create() if runtime.db.is_sqlite else None
        self._conn = Connection(ours.detach())
        self.token = owner_token(self.process.pid)
        self.state = "active"
        self.ready_seen = False  # it said it is up (before it reads any key)
        self.caught_up = False  # up, and through the keys queued while it started
        self.started = time.monotonic()
        self.outstanding = 0
        self.window = max(WINDOW_BATCHES * runtime.batch_size, 100)
        self.startup_window = max(STARTUP_BATCHES * runtime.batch_size, 1000)
        self.handled = 0  # messages the child rendered and handed over
        self.outcomes = Outcomes()  # what the child left to the tick to write (SQLite)
        self.waited = 0.0  # seconds the tick waited for the child (window full, end of tick)
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        spec = _Spec(runtime.db.url, runtime.config, str(runtime.templates.folder), runtime.adapters,
                     runtime.llm_placeholder, now, self.turns.folder if self.turns else None, os.getpid(),
                     self.token)
        try:
            self._conn.send(spec)
        except (OSError, ValueError):
            self._died()

    @property
    def active(self) -> bool:
        return self.state == "active"

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the child is up (waiting up to `wait` seconds for it)."""
        deadline = time.monotonic() + wait
        while self.active and not self.ready_seen:
            self._read(max(0.0, min(1.0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                break
        return self.active and self.ready_seen

    def send(self, keys: list[str]) -> bool:
        """Give the child the keys of rows claimed for it; False if it is gone
        (the rows then stay `sending` under its token until `finish` takes them back)."""
        if not self.active:
            return False
        try:
            self._conn.send(keys)
        except (OSError, ValueError):
            self._died()
            return False
        self.outstanding += len(keys)
        t0 = time.perf_counter()
        self._read(0.0)
        # the small window from when it has caught up: waiting for the whole
        # start-up queue to drain would stall the engine just as the child is up
        self.caught_up = self.caught_up or (self.ready_seen and self.outstanding <= self.window)
        while self.active and self.outstanding > (self.window if self.caught_up else self.startup_window):
            self._read(1.0)
            if not self.ready_seen and time.monotonic() - self.started > READY_TIMEOUT:
                self.process.kill()
                self._fail(f"not up after {READY_TIMEOUT:.0f} s")
        self.waited += time.perf_counter() - t0
        return True

    def finish(self) -> dict[str, Any] | None:
        """Tell the child the tick is done, wait for its report and join it;
        None unless it finished.  A child not up yet is stopped rather than
        waited for: what was claimed for it goes back to the tick."""
        t0 = time.perf_counter()
        self._read(0.0)
        if self.active and not self.ready_seen:
            self.process.kill()
            self.state = "unused"
        elif self.active:
            try:
                self._conn.send(None)
            except (OSError, ValueError):
                self._died()
            while self.active and self.result is None:
                self._read(1.0)
        if self.state != "active":
            self.process.kill()  # a child that sent an error may still be on its way out
        code = self.process.wait()
        self._read(0.0)  # what it sent before it ended: a late "ready" means it may have handed some over
        self._conn.close()
        if self.turns is not None:
            self.turns.close(remove=True)
        if self.active and self.result is not None and code == 0:
            self.state = "done"
        elif self.active:
            self._fail(f"the delivery process exited with code {code}")
        self.waited += time.perf_counter() - t0
        return self.result if self.state == "done" else None

    def _read(self, timeout: float) -> None:
        """Handle what the child sent, waiting up to `timeout` for the first message."""
        try:
            while self._conn.poll(timeout):
                timeout = 0.0
                kind, value = self._conn.recv()
                if kind == "ready":
                    self.ready_seen = True
                elif kind == "done":  # (number of keys, outcomes for the tick to write or None)
                    self.outstanding -= value[0]
                    self.handled += value[0]
                    if value[1] is not None:
                        self.outcomes.extend(value[1])
                elif kind == "report":
                    self.result = value
                else:  # "error": the child's traceback
                    self._fail(value)
        except (EOFError, OSError):
            if self.result is None:
                self._died()

    def take_outcomes(self) -> Outcomes:
        out, self.outcomes = self.outcomes, Outcomes()
        return out

    def _died(self) -> None:
        if self.active:
            try:
                code = self.process.wait(1.0)
            except subprocess.TimeoutExpired:
                code = None
            self._fail(f"the delivery process died (exit code {code})")

    def _fail(self, why: str) -> None:
        if self.active:
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


def main() -> None:
    """The child's entry point: `python -c "...; main()" FD`."""
    # ^C in a terminal reaches the whole process group: the tick decides when
    # to stop, then this process finishes what it was given (a window's worth).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(int(sys.argv[1]))
    try:
        spec = conn.recv()
        _follow_parent(spec.parent)
        _serve(spec, conn)
    except BaseException:  # noqa: BLE001 - tell the tick why, then exit non-zero
        try:
            conn.send(("error", traceback.format_exc(limit=8)))
        except Exception:  # noqa: BLE001 - the tick is gone too
            pass
        os._exit(1)


def _serve(spec: _Spec, conn) -> None:
    from fsl.engine.timing import iso
    from fsl.store import open_store
    from fsl.templates import TemplateStore

    from .gc_policy import batch_collections
    from .outbox import Outbox
    from .runtime import Runtime, TickReport

    db = open_store(spec.url, create=False)
    if spec.turns is not None:
        db.gate = turns_mod.Turns(spec.turns).delivery
    rt = Runtime(spec.config, db, TemplateStore(Path(spec.templates)), adapters=spec.adapters,
                 llm_placeholder=spec.llm_placeholder, delivery="inline")
    report = TickReport(iso(spec.now))
    outbox = Outbox(rt, spec.now, report, recover_first=False, token=spec.token)
    outbox.defer = db.is_sqlite  # see outbox.Settled
    conn.send(("ready", outbox.token))
    busy = 0.0
    try:
        with db.sharing(), batch_collections():  # PostgreSQL: settle in shared mode, beside the tick's batches
            while True:
                try:
                    keys = conn.recv()
                except EOFError:  # the tick is gone (no PDEATHSIG here): what it gave is done
                    break
                if keys is None:
                    break
                t0 = time.perf_counter()
                outcomes = outbox.hand_over(outbox.load(keys))
                busy += time.perf_counter() - t0
                conn.send(("done", (len(keys), outcomes)))
    finally:
        outbox.close()
        rt.close()
    import resource

    conn.send(("report", {
        "delivered": report.delivered, "retried": report.retried, "failed": report.failed, "held": report.held,
        "failures": report.failures, "seconds": busy, "cpu": time.process_time(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    conn.close()
    os._exit(0)  # all is closed and said: skip the interpreter's teardown, the tick is waiting
