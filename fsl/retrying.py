"""Waiting before asking a server again: the backoff formula and `Retry-After`.

One home for both, used by the delivery channels and retry policy
(fsl/delivery), the model client and the review queue's outage backoff
(fsl/llm).  Standard library only, so every layer may import it.
"""
from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime
from datetime import timezone
from typing import Callable, Mapping


def backoff(n: int, base: float, cap: float, factor: float = 2.0, jitter: float = 0.0,
            rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before the n-th retry (n >= 1): `base * factor**(n-1)`, at most
    `cap`, then spread by ± `jitter` (a fraction of the wait), never above `cap`.

    The jitter spreads retries of many clients that failed at the same moment;
    `rng` draws from [0, 1) (a `random.Random(...).random` makes it repeatable).
    """
    try:
        step = min(cap, base * factor ** max(0, n - 1))
    except OverflowError:  # thousands of attempts: long past the cap
        step = cap
    if jitter:
        step = min(cap, step * (1 + jitter * (2 * rng() - 1)))
    return max(0.0, step)


def retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds a server asked us to wait, or None when it did not say (or said nonsense).

    `retry-after-ms` (milliseconds, sent by OpenAI-style APIs) wins over
    `Retry-After`, which is a number of seconds or an HTTP date (a date in the
    past is 0; a date with no zone is GMT, as HTTP dates are).  Header names
    are matched case-insensitively; `now` is a POSIX timestamp (default: the
    wall clock).  A negative or non-finite number is not a delay: None.
    """
    if not headers:
        return None
    named = {str(k).lower(): v for k, v in headers.items()}
    ms = _number(named.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    raw = named.get("retry-after")
    if not raw or not str(raw).strip():
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        at = parsedate_to_datetime(str(raw).strip())
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return max(0.0, at.timestamp() - (time.time() if now is None else now))


def _number(value: object) -> float | None:
    try:
        n = float(str(value).strip()) if value is not None else None
    except ValueError:
        return None
    return n if n is not None and math.isfinite(n) and n >= 0 else None
