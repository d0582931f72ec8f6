"""The retry policy: backoff growth, cap, jitter, Retry-After, giving up."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from fsl.channel_settings import RetrySettings
from fsl.delivery import RetryPolicy, policy_for, settle
from fsl.delivery.channels.base import DeliveryResult

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)


def test_backoff_grows_by_factor_up_to_the_cap_then_gives_up():
    policy = RetryPolicy(max_attempts=8, jitter=0)
    delays = [policy.delay(n) for n in range(1, 9)]
    assert delays[:5] == [30, 120, 480, 1920, 3600]
    assert delays[5:7] == [3600, 3600]
    assert delays[7] is None  # 8 attempts made: give up
    assert policy.next_attempt(1, NOW) == NOW + timedelta(seconds=30)
    assert RetryPolicy().next_attempt(5, NOW) is None


def test_jitter_stays_within_bounds_and_under_the_cap():
    policy = RetryPolicy(jitter=0.1, rng=random.Random(7))
    for _ in range(200):
        assert 27 <= policy.delay(1) <= 33
        assert policy.delay(4) <= 3600


def test_retry_after_is_honoured_but_bounded():
    policy = RetryPolicy(jitter=0)
    assert policy.delay(1, retry_after=600) == 600
    assert policy.delay(3, retry_after=5) == 480  # never sooner than the backoff
    assert policy.delay(1, retry_after=10**9) == policy.max_retry_after


def test_settle():
    policy = RetryPolicy(max_attempts=3, jitter=0)
    ok = settle(DeliveryResult("delivered", "HTTP 200"), 1, NOW, policy)
    assert (ok.status, ok.next_at) == ("delivered", None)
    again = settle(DeliveryResult("retry", "HTTP 503", 90), 1, NOW, policy)
    assert again.status == "retry" and again.next_at == NOW + timedelta(seconds=90)
    final = settle(DeliveryResult("retry", "HTTP 503"), 3, NOW, policy)
    assert final.status == "failed" and "3 attempts" in final.detail and "HTTP 503" in final.detail
    assert settle(DeliveryResult("failed", "550"), 1, NOW, policy).status == "failed"


def test_policy_from_channel_settings():
    p = policy_for(RetrySettings.model_validate({"max_attempts": 3, "base": "1 minute", "factor": 2,
                                                 "cap": "10 minutes"}))
    assert (p.max_attempts, p.base, p.factor, p.cap) == (3, 60, 2, 600)
    assert policy_for(None) == RetryPolicy() == policy_for(RetrySettings())
    with pytest.raises(ValueError):  # a typo is a config error now (tests/test_channel_settings.py)
        RetrySettings.model_validate({"max_attempts": "lots", "base": "soon", "factor": -1})
