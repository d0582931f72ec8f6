"""When to try a failed delivery again, and when to give up (RUNTIME.md 5).

Exponential backoff (30 s, 2 min, 8 min, 32 min, then the 1 h cap) with a
little jitter, so that a channel that was down for a minute is not hit by
every queued message at the same second when it comes back.  A receiver's
`Retry-After` is honoured: we never come back sooner than it asked.  After
`max_attempts` attempts the message is failed and reported; the outbox moves
on, so one contact's broken address never holds up another's.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from fsl.channel_settings import RetrySettings
from fsl.retrying import backoff

from .channels.base import DeliveryResult


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff: the n-th retry waits `base * factor**(n-1)`, at most `cap`, ± `jitter`."""

    max_attempts: int = 5
    base: float = 30.0  # seconds
    factor: float = 4.0
    cap: float = 3600.0  # seconds
    jitter: float = 0.1  # fraction of the delay, both ways; 0 for none
    max_retry_after: float = 24 * 3600.0  # a longer Retry-After is read as this
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempts_so_far: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after `attempts_so_far` attempts; None to give up."""
        if attempts_so_far >= self.max_attempts:
            return None
        wait = backoff(attempts_so_far, self.base, self.cap, self.factor, self.jitter, self.rng.random)
        if retry_after is not None and retry_after > 0:
            wait = max(wait, min(float(retry_after), self.max_retry_after))
        return wait

    def next_attempt(self, attempts_so_far: int, now: datetime,
                     retry_after: float | None = None) -> datetime | None:
        """The instant of the next attempt, or None: give up and mark the delivery failed."""
        seconds = self.delay(attempts_so_far, retry_after)
        return None if seconds is None else now + timedelta(seconds=seconds)


@dataclass(frozen=True)
class Settlement:
    """What the outbox records after one attempt."""

    status: Literal["delivered", "retry", "failed"]
    detail: str
    next_at: datetime | None = None  # set when status is retry


def settle(result: DeliveryResult, attempts_so_far: int, now: datetime, policy: RetryPolicy) -> Settlement:
    """An adapter's answer after `attempts_so_far` attempts (this one included)
    -> delivered, retry at an instant, or failed (retries exhausted)."""
    if result.status != "retry":
        return Settlement(result.status, result.detail)
    at = policy.next_attempt(attempts_so_far, now, result.retry_after)
    if at is None:
        return Settlement("failed", f"gave up after {attempts_so_far} attempts: {result.detail}")
    return Settlement("retry", result.detail, at)


def policy_for(settings: RetrySettings | None) -> RetryPolicy:
    """A channel's policy: its validated `retry:` settings (fsl/channel_settings.py), else the defaults."""
    if settings is None:
        return RetryPolicy()
    return RetryPolicy(max_attempts=settings.max_attempts, base=settings.base, factor=settings.factor,
                       cap=settings.cap, jitter=settings.jitter)
