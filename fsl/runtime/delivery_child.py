"""The delivery process's own side: what runs in the child interpreter that
delivery_process.py starts (`python -c "from fsl.runtime.delivery_child import
main; main()" FD`).

Its own module because the child builds a whole runtime and outbox, while the
parent side is used by the outbox: this way the outbox depends on the parent
side and the child on the outbox, never in a circle.
"""
from __future__ import annotations

import os
import resource
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

from fsl.engine.timing import iso
from fsl.engine.gcpolicy import batch_collections
from fsl.store import open_store
from fsl.store import turns as turns_mod
from fsl.templates import TemplateStore

from .delivery_process import Spec
from .host import TickReport
from .outbox import Outbox
from .runtime import Runtime


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


def _serve(spec: Spec, conn) -> None:
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
    conn.send(("report", {
        "delivered": report.delivered, "retried": report.retried, "failed": report.failed, "held": report.held,
        "failures": report.failures, "seconds": busy, "cpu": time.process_time(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    conn.close()
    os._exit(0)  # all is closed and said: skip the interpreter's teardown, the tick is waiting
