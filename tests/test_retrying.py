"""One backoff formula, one `Retry-After` reader, one redactor for the channels
and the model client (fsl/retrying.py, fsl/redaction.py)."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from email.utils import formatdate

import httpx

from fsl.redaction import Redactor
from fsl.retrying import backoff, retry_after


def test_retry_after_seconds_ms_and_http_dates():
    now = time.time()
    assert retry_after({"Retry-After": "30"}) == 30.0
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0
    assert 28 <= retry_after({"retry-after": formatdate(now + 30, usegmt=True)}, now=now) <= 30
    assert retry_after({"retry-after": formatdate(now - 30, usegmt=True)}, now=now) == 0.0
    at = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    later = (at + timedelta(minutes=5)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after(httpx.Headers({"Retry-After": later}), at.timestamp()) == 300.0


def test_retry_after_nonsense_is_no_delay():
    for value in ("soon", "garbage", "", "  ", "-5", "nan", "inf"):
        assert retry_after({"Retry-After": value}) is None, value
    assert retry_after({}) is None and retry_after(None) is None


def test_retry_after_reads_a_date_without_a_zone_as_gmt():
    """The model client read a zone-less date in the machine's local zone."""
    at = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)
    assert retry_after({"Retry-After": "Mon, 23 Nov 2026 15:01:00 -0000"}, at.timestamp()) == 60.0


def test_retry_after_accepts_fractional_seconds_for_every_user():
    """The webhook channel ignored `1.5`; the model client honoured it."""
    assert retry_after(httpx.Headers({"Retry-After": "1.5"})) == 1.5


def test_backoff_grows_up_to_the_cap_and_never_overflows():
    assert [backoff(n, 30, 3600, factor=4) for n in range(1, 7)] == [30, 120, 480, 1920, 3600, 3600]
    assert backoff(0, 60, 3600) == 60
    assert backoff(10_000, 30, 3600, factor=4) == 3600


def test_backoff_jitter_spreads_both_ways_under_the_cap():
    draw = random.Random(7).random
    for _ in range(200):
        assert 0.25 <= backoff(1, 0.5, 8, jitter=0.5, rng=draw) <= 0.75
        assert backoff(5, 0.5, 8, jitter=0.5, rng=draw) <= 8


def test_redactor_removes_secrets_their_base64_and_bearer_tokens():
    redact = Redactor(["hunter22", "\0ana\0hunter22", None, "x"])
    assert redact("password hunter22 rejected") == "password [redacted] rejected"
    assert redact("AUTH PLAIN AGFuYQBodW50ZXIyMg==") == "AUTH PLAIN [redacted]=="
    assert redact("echo: Authorization: Bearer abc.def") == "echo: Authorization: Bearer [redacted]"
    assert len(redact("a" * 1000)) == 300
    assert redact("a  b\n c") == "a b c"
