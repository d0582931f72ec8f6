"""The benchmarks' channel: records what it is handed, in any process.

A module of its own (not the benchmark script) so that it can be pickled
by name and sent to the tick's delivery process (fsl/runtime/delivery_process.py).
Each message appends one `key` line to a file with one O_APPEND write, which
is atomic across processes, so the in-process part of a tick and its
delivery process record into the same file.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path


class Recorder:
    settle_each = False  # a local channel: settled a batch at a time

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._fd: int | None = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "_fd": None}

    def deliver(self, msg):
        from fsl.delivery.channels.base import delivered

        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, (msg.key + "\n").encode())
        return delivered("recorded")

    def close(self) -> None:
        pass

    def keys(self) -> Counter:
        path = Path(self.path)
        return Counter(path.read_text().split()) if path.exists() else Counter()
