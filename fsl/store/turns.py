"""Write turns between a tick and its delivery process on one SQLite file.

Why: SQLite has one write lock, and a writer that finds it taken sleeps in
its busy handler (1, 2, 5 ... 100 ms) and tries again once.  A tick runs its
batches back to back, each holding the lock for tens of milliseconds, with
microseconds between them: a second process's writer almost never finds the
lock free and starves until the tick ends (measured: a 5 s wait for a 1 ms
write).  The delivery process (fsl/runtime/delivery_process.py) settles what it
hands over in short transactions of its own, so the two writers take turns
through two `flock`s instead:

* `turn` is held around every write transaction of either process, so they
  never meet SQLite's busy handler; a waiter is woken by the kernel the
  moment the lock is released.
* `want` is held (shared) by the delivery process while it waits for
  `turn`.  The tick takes `want` (exclusive) before `turn`, so a delivery
  writer that is waiting goes first: it waits for at most one engine batch,
  the tick for at most one short settle.

flock locks die with their process, so a killed process never leaves the
other one waiting.  SQLite's own locking still guards the data: the turns
only decide who asks first, and writers outside this pair (another tick,
`fsl event`) meet the busy handler as before.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no delivery process (see delivery_process.usable)
    fcntl = None  # type: ignore[assignment]

AVAILABLE = fcntl is not None
_PREFIX = "fsl-turns-"


def pid_alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine (one another user owns counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Turns:
    """The two lock files in `folder`, opened by this process."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._turn = os.open(os.path.join(folder, "turn"), os.O_RDWR | os.O_CREAT, 0o600)
        self._want = os.open(os.path.join(folder, "want"), os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def create(cls) -> "Turns":
        """New lock files in a temporary folder named after this process; the
        folders of dead processes (a SIGKILLed tick cannot remove its own) go."""
        tmp = tempfile.gettempdir()
        for name in os.listdir(tmp):
            owner = name[len(_PREFIX):].split("-", 1)[0] if name.startswith(_PREFIX) else ""
            if owner.isdigit() and not pid_alive(int(owner)):
                shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
        return cls(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))

    @contextmanager
    def tick(self) -> Iterator[None]:
        """The tick's turn: after a delivery writer already waiting."""
        fcntl.flock(self._want, fcntl.LOCK_EX)
        fcntl.flock(self._want, fcntl.LOCK_UN)
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    @contextmanager
    def delivery(self) -> Iterator[None]:
        """The delivery process's turn: announced, so the tick lets it go first."""
        fcntl.flock(self._want, fcntl.LOCK_SH)
        try:
            fcntl.flock(self._turn, fcntl.LOCK_EX)
        finally:
            fcntl.flock(self._want, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    def close(self, remove: bool = False) -> None:
        for fd in (self._turn, self._want):
            try:
                os.close(fd)
            except OSError:
                pass
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
