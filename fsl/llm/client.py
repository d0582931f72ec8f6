"""Calls to an OpenAI-compatible chat endpoint, with our own retries and limits.

Why not the SDK's retries: we need one policy across every server the `llm`
block may name (OpenAI, vLLM, Ollama, LM Studio, gateways): a bounded number
of requests in flight per endpoint, a 429's Retry-After honoured by every
request to that endpoint (not just the one that got it), timeouts, connection
errors and 5xx retried with exponential backoff and jitter, and then a
`ModelUnavailable` that the caller turns into a held message.  So the SDK runs
with `max_retries=0` and this module decides.

Structured output is asked for with a strict `json_schema` response format;
a server that refuses it (400/422 saying nothing, or naming the format or the
schema) is asked again with `json_object`, then with no response format and
the schema spelled out in the prompt.  The mode that
worked is remembered for the client's later calls, and until one has worked
a single request at a time tries it, so that a server without structured
output refuses one request per client, not one per message in flight.
An endpoint's limit and Retry-After are shared by every call to it in one
event loop, a client's mode and connection pool by every call through it: the outbox keeps one client and one loop per tick (or
delivery process) for that reason (fsl.runtime.llm_queue).  Answers are never trusted:
`fsl.llm.schema.parse_draft` re-validates them.

Secrets: the API key is handed to the SDK and nowhere else.  Error messages
and log lines are built by us from status codes and a redacted, shortened
server message; SDK exceptions are not chained to ours (their bodies may echo
request headers), and a missing key is never replaced by the SDK's
`OPENAI_API_KEY` from the environment.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import weakref
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion

from fsl.config import LLMConfig
from fsl.redaction import Redactor
from fsl.retrying import backoff, retry_after
from fsl.llm.schema import DRAFT_SCHEMA, response_format

log = logging.getLogger("fsl.llm")

MODES: tuple[str, ...] = ("json_schema", "json_object", "plain")
_NO_KEY = "unset"  # sent when the config has no key: never fall back to OPENAI_API_KEY


class LLMNotConfigured(ValueError):
    """The `llm` block lacks base_url or model."""


class ModelUnavailable(Exception):
    """No answer after the retries allowed (or a refusal not worth retrying): hold the message.

    `reason` is safe to show and to journal: it never contains the API key.
    """

    def __init__(self, reason: str, *, attempts: int, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.status = status


@dataclass
class _EndpointState:
    """Shared by every client of one endpoint within one event loop: its limit and its Retry-After."""

    semaphore: asyncio.Semaphore
    not_before: float = 0.0  # loop time before which no request may start (a 429's Retry-After)


# event loop -> endpoint -> state.  asyncio primitives belong to one loop; the
# outbox runs one loop per tick (or delivery process) for all its messages.
_ENDPOINTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _EndpointState]]" = (
    weakref.WeakKeyDictionary()
)


@dataclass
class _LoopState:
    """One client's own things within one event loop."""

    sdk: openai.AsyncOpenAI  # one connection pool for every call
    probe: asyncio.Lock  # held by the one request trying a response format not yet seen to work


@dataclass
class _Failure:
    kind: str  # timeout, connection, rate_limit, server, bad_response, format_rejected, fatal
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass
class CallStats:
    """Counters for one client: for the bench and for tests."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    fallbacks: list[str] = field(default_factory=list)


class LLMClient:
    """One model on one OpenAI-compatible endpoint (the project's `llm` block)."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_after: float = 60.0,
        rate_limit_retries: int = 6,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if not config.base_url or not config.model:
            missing = " and ".join(k for k in ("base_url", "model") if not getattr(config, k))
            raise LLMNotConfigured(f"the `llm` block of fsl.yaml needs {missing} for templates with renderer: llm")
        self.config = config
        self.endpoint = config.base_url.rstrip("/")
        self.model = config.model
        self.mode = MODES[0]
        self.mode_proven = False  # an answer came back in `mode`: no need to probe it one request at a time
        self.stats = CallStats()
        self.redact = Redactor([config.api_key])  # the key, and anything after `Bearer `
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._rate_limit_retries = rate_limit_retries
        self._sleep = sleep
        self._rng = rng
        self._loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState]" = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"LLMClient(endpoint={display_endpoint(self.endpoint)!r}, model={self.model!r})"

    # -- plumbing -----------------------------------------------------------------

    def _mine(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        mine = self._loops.get(loop)
        if mine is None:
            sdk = openai.AsyncOpenAI(
                base_url=self.endpoint,
                api_key=self.config.api_key or _NO_KEY,
                timeout=self.config.timeout_seconds + 1.0,  # our own deadline (wait_for) fires first
                max_retries=0,
            )
            mine = self._loops[loop] = _LoopState(sdk, asyncio.Lock())
        return mine

    def _sdk(self) -> openai.AsyncOpenAI:
        return self._mine().sdk

    def _state(self) -> _EndpointState:
        per_loop = _ENDPOINTS.setdefault(asyncio.get_running_loop(), {})
        state = per_loop.get(self.endpoint)
        if state is None:
            state = per_loop[self.endpoint] = _EndpointState(asyncio.Semaphore(self.config.concurrency))
        return state

    async def aclose(self) -> None:
        """Close the HTTP connections opened in the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - called outside a loop
            return
        state = self._loops.pop(loop, None)
        if state is not None:
            await state.sdk.close()

    # -- the call -----------------------------------------------------------------

    async def complete(self, messages: list[dict[str, str]]) -> str:
        """The text of the model's answer to `messages`, or ModelUnavailable."""
        failures = rate_limited = 0
        loop = asyncio.get_running_loop()
        while True:
            state = self._state()
            while (delay := state.not_before - loop.time()) > 0:
                await self._sleep(delay)
            async with state.semaphore:
                if state.not_before > loop.time():
                    continue  # a 429 arrived while we queued: wait without holding a slot
                probed = False
                if not self.mode_proven:  # one request finds the format the server takes; the others wait for it
                    async with self._mine().probe:
                        if state.not_before > loop.time():
                            continue
                        if not self.mode_proven:  # (proven while this one waited: go on side by side)
                            probed = True
                            mode = self.mode
                            text, failure = await self._attempt(mode, messages)
                            self.mode_proven = failure is None and mode == self.mode
                if not probed:
                    mode = self.mode
                    text, failure = await self._attempt(mode, messages)
            if failure is None:
                return text
            if failure.kind == "format_rejected":
                self._downgrade(mode, failure)
                continue
            if failure.kind == "fatal":
                raise ModelUnavailable(failure.detail, attempts=failures + rate_limited + 1, status=failure.status)
            if failure.kind == "rate_limit":
                rate_limited += 1
                self.stats.rate_limited += 1
                wait = failure.retry_after if failure.retry_after is not None else self._backoff(rate_limited)
                if wait > self._max_retry_after:  # honour it by not asking again now: the caller holds
                    asked = f"the server asks to wait {wait:.0f} s, more than the {self._max_retry_after:.0f} s allowed"
                    raise ModelUnavailable(f"{failure.detail}; {asked}",
                                           attempts=failures + rate_limited, status=failure.status)
                if rate_limited > self._rate_limit_retries:
                    raise ModelUnavailable(f"{failure.detail}, {rate_limited} times in a row",
                                           attempts=failures + rate_limited, status=failure.status)
                state.not_before = max(state.not_before, loop.time() + wait)
                log.warning("LLM endpoint %s rate-limited the request; waiting %.2f s",
                            display_endpoint(self.endpoint), wait)
                continue
            failures += 1
            if failures > self.config.max_retries:
                tries = "attempt" if failures == 1 else "attempts"
                raise ModelUnavailable(f"{failure.detail} ({failures} {tries})",
                                       attempts=failures + rate_limited, status=failure.status)
            delay = self._backoff(failures)
            self.stats.retries += 1
            log.warning("LLM request to %s failed: %s; retry %d of %d in %.2f s",
                        display_endpoint(self.endpoint), failure.detail, failures, self.config.max_retries, delay)
            await self._sleep(delay)

    async def _attempt(self, mode: str, messages: list[dict[str, str]]) -> tuple[str, _Failure | None]:
        """One HTTP request; every exception becomes a _Failure outside this frame (no chaining)."""
        self.stats.requests += 1
        kwargs: dict[str, Any] = {"model": self.model, "messages": _with_schema(messages, mode)}
        fmt = response_format(mode)
        if fmt is not None:
            kwargs["response_format"] = fmt
        failure: _Failure | None = None
        try:
            # the SDK's documented `post` for custom requests: the same HTTP client, errors and
            # response model as `chat.completions.create`, without re-walking our plain-dict
            # arguments against its TypedDicts (a fifth of the CPU of a render, measured)
            result = await asyncio.wait_for(self._sdk().post("/chat/completions", body=kwargs, cast_to=ChatCompletion),
                                            timeout=self.config.timeout_seconds)
        except (asyncio.TimeoutError, openai.APITimeoutError):
            failure = _Failure("timeout", f"no answer within {self.config.timeout_seconds:g} s")
        except openai.APIConnectionError as exc:
            failure = _Failure("connection", f"cannot reach the endpoint ({type(exc.__cause__ or exc).__name__})")
        except openai.APIStatusError as exc:
            failure = self._status_failure(exc, mode)
        except openai.OpenAIError as exc:  # a response the SDK could not read
            failure = _Failure("bad_response", f"unreadable response ({type(exc).__name__})")
        if failure is not None:
            return "", failure
        choices = getattr(result, "choices", None)
        if not choices:
            return "", _Failure("bad_response", "the response has no choices")
        message = choices[0].message
        return (message.content or getattr(message, "refusal", None) or ""), None

    def _status_failure(self, exc: openai.APIStatusError, mode: str) -> _Failure:
        status = exc.status_code
        said = self._server_message(exc.body)
        detail = f"HTTP {status} from the endpoint" + (f": {said}" if said else "")
        if status == 429:
            return _Failure("rate_limit", detail, status, retry_after(exc.response.headers))
        if status in (400, 422) and mode != "plain" and _about_format(said):
            return _Failure("format_rejected", detail, status)
        if status in (408, 409) or status >= 500:
            return _Failure("server", detail, status)
        if status in (401, 403):
            detail += " (check the API key in the environment variable named by llm.api_key)"
        return _Failure("fatal", detail, status)

    def _server_message(self, body: object) -> str:
        if isinstance(body, dict):
            body = body.get("message", "")
        if not isinstance(body, str):
            return ""
        return self.redact(body, limit=200)

    def _downgrade(self, mode: str, failure: _Failure) -> None:
        index = MODES.index(mode)
        if self.mode == mode and index + 1 < len(MODES):
            self.mode = MODES[index + 1]
            self.stats.fallbacks.append(self.mode)
            log.info("LLM endpoint %s refused response_format %s (%s); using %s",
                     display_endpoint(self.endpoint), mode, failure.detail, self.mode)

    def _backoff(self, n: int) -> float:
        """Exponential backoff, doubling from `backoff_base` up to `backoff_max`, ± half."""
        return backoff(n, self._backoff_base, self._backoff_max, jitter=0.5, rng=self._rng)


# ---------------------------------------------------------------------------


_FORMAT_WORDS = ("response_format", "response format", "json_schema", "json_object", "schema", "structured",
                 "format", "json")


def _about_format(said: str) -> bool:
    """Whether a 400/422 may be a refusal of `response_format` (a silent one counts).

    A refusal for another reason ("maximum context length") must not switch
    every later call of the client to a weaker mode.
    """
    return not said or any(word in said.lower() for word in _FORMAT_WORDS)


def _with_schema(messages: list[dict[str, str]], mode: str) -> list[dict[str, str]]:
    """In plain mode the schema travels in the prompt, appended to the first system message."""
    if mode != "plain":
        return messages
    note = ("\n\nReply with only a JSON object that matches this JSON schema, with no other text:\n"
            + json.dumps(DRAFT_SCHEMA, sort_keys=True))
    out = [dict(m) for m in messages]
    for m in out:
        if m.get("role") == "system":
            m["content"] = m["content"] + note
            return out
    return [{"role": "system", "content": note.strip()}, *out]


def display_endpoint(url: str) -> str:
    """The endpoint for logs: scheme, host, port and path; no user info, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"
    except ValueError:
        return "<endpoint>"
