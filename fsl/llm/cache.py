"""The render cache: one accepted text per (endpoint, model, prompt, schema, guards).

A model rarely writes the same text twice.  If a worker crashes after a
render passed the guards but before the send was recorded, rendering again
would give the enrollment step a second, different message.  So an accepted
render is stored under a hash of everything that shaped it and reused; and
`put` keeps the first value written (first writer wins), returning it, so two
workers racing on the same step still converge on one text.

The protocol is two methods over strings so that the production store can
back it with its own table (fsl/store/cache.py); here: in memory.
"""
from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Protocol, runtime_checkable

CACHE_FORMAT = 1


@runtime_checkable
class RenderCache(Protocol):
    """Key -> value (both strings).  `put` stores only if absent and returns the stored value."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> str: ...


def cache_key(*, endpoint: str, model: str, prompt: Any, schema: Any, guards: Any) -> str:
    """sha256 over canonical JSON of the inputs (never the API key): 64 hex digits."""
    payload = {
        "format": CACHE_FORMAT,
        "endpoint": endpoint,
        "model": model,
        "prompt": prompt,
        "schema": schema,
        "guards": guards,
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MemoryCache:
    """A dict: for tests, previews (`fsl render`) and one-process runs."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        return self._data.get(key)

    def put(self, key: str, value: str) -> str:
        with self._lock:
            return self._data.setdefault(key, value)

    def __len__(self) -> int:
        return len(self._data)
