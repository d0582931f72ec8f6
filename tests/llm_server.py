"""A real OpenAI-compatible HTTP server on loopback, scripted per request.

Used by tests/test_llm_render.py and bench/render_speed.py.  It is a plain
stdlib `ThreadingHTTPServer` in a daemon thread speaking HTTP/1.1 with
keep-alive, so the client under test goes through the real SDK, httpx, TCP
and JSON, not a mock transport.

    with FakeLLMServer(latency=0.01) as server:
        server.queue(Reply.breaking("offer"), Reply.good())   # then good answers
        config = LLMConfig(base_url=server.base_url, model="fake", api_key="k")

`POST /v1/chat/completions` answers each request with the next queued
`Reply` (or `server.responder(request)` when set, else a good answer):

    good                a draft that passes every guard (it copies the links found in the prompt)
    breaking(guard)     a good draft altered to break one guard: subject, body, max_words, avoid,
                        offer, emails, phones, links_missing, links_extra
    content(text)       this raw assistant content (non-JSON, fenced JSON, ...)
    status(code, ...)   an HTTP error, e.g. 500, or 429 with {"Retry-After": "1"}
    stall(seconds)      say nothing for that long (past the client's timeout)

`reject_formats={"json_schema"}` makes the server answer 400 to requests
whose response_format has one of those types (a server without structured
output); `rejected` counts them.  Every request body is kept in `requests`
(and its arrival time in `arrivals`); `max_in_flight` is the highest number of
requests handled at once, `connections` the number of TCP connections opened.

Like a real rate limiter, the server holds to the Retry-After it sent: a
request arriving before that delay has passed gets a 429 too (`throttled`
counts those), so a client that ignores it shows up in the counts.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

GOOD_SUBJECT = "Next steps for our project"
GOOD_BODY = "Hi there, thanks again for your time today. I put together the notes we discussed. Best, Ana"
_URL = re.compile(r"https?://[^\s,]+")


@dataclass
class Reply:
    kind: str = "good"  # good | breaking | content | status | stall
    guard: str | None = None
    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    echo_auth: bool = False  # put the request's Authorization header in the error body

    @staticmethod
    def good() -> "Reply":
        return Reply("good")

    @staticmethod
    def breaking(guard: str) -> "Reply":
        return Reply("breaking", guard=guard)

    @staticmethod
    def raw(text: str) -> "Reply":
        return Reply("content", content=text)

    @staticmethod
    def error(status: int, headers: dict[str, str] | None = None, body: Any = None, echo_auth: bool = False) -> "Reply":
        return Reply("status", status=status, headers=dict(headers or {}), body=body, echo_auth=echo_auth)

    @staticmethod
    def stall(seconds: float) -> "Reply":
        return Reply("stall", seconds=seconds)


def good_draft(request: dict[str, Any]) -> dict[str, str]:
    """A draft that passes the guards: it includes every link the prompt lists, and nothing risky."""
    first = request.get("messages", [])[:2]  # system + first user message: not a re-ask's reasons
    text = "\n".join(str(m.get("content", "")) for m in first)
    links = list(dict.fromkeys(u.rstrip(".") for u in _URL.findall(text)))
    body = GOOD_BODY if not links else GOOD_BODY.replace(". Best", ": " + " and ".join(links) + ". Best")
    return {"subject": GOOD_SUBJECT, "body": body}


def breaking_draft(request: dict[str, Any], guard: str) -> dict[str, str]:
    draft = good_draft(request)
    subject, body = draft["subject"], draft["body"]
    if guard == "subject":
        subject = "  "
    elif guard == "body":
        body = ""
    elif guard == "max_words":
        body = body + " more" * 400
    elif guard == "avoid":
        body = "Just   Checking In! " + body
    elif guard == "offer":
        body = body + " Take 40% off if you sign this week."
    elif guard == "emails":
        body = body + " Or write to bob@rival.example."
    elif guard == "phones":
        body = body + " Call me at +1 415 555 0199."
    elif guard == "links_missing":
        body = GOOD_BODY
    elif guard == "links_extra":
        body = body + " See also https://evil.example/win."
    else:
        raise ValueError(f"unknown guard {guard!r}")
    return {"subject": subject, "body": body}


def completion(request: dict[str, Any], content: str, n: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections when many clients connect at once
    daemon_threads = True


class FakeLLMServer:
    """See the module docstring.  Start with `with` or `start()`; `base_url` ends in /v1."""

    def __init__(self, latency: float = 0.0, reject_formats: set[str] | frozenset[str] = frozenset()) -> None:
        self.latency = latency
        self.reject_formats = set(reject_formats)
        self.responder: Callable[[dict[str, Any]], Reply | None] | None = None
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.arrivals: list[float] = []  # time.monotonic() of each request, in arrival order
        self.max_in_flight = 0
        self.connections = 0
        self.rejected = 0  # requests refused for their response_format
        self.throttled = 0  # requests that came before the end of a Retry-After this server gave
        self._limited_until = 0.0
        self._queue: list[Reply] = []
        self._in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def queue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    def start(self) -> "FakeLLMServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering --------------------------------------------------------------------

    def _next(self, request: dict[str, Any]) -> tuple[Reply, int]:
        with self._lock:
            self.requests.append(request)
            n = len(self.requests)
            if self._queue:
                return self._queue.pop(0), n
        if self.responder is not None:
            reply = self.responder(request)
            if reply is not None:
                return reply, n
        return Reply.good(), n

    def _answer(self, request: dict[str, Any], auth: str) -> tuple[int, dict[str, str], bytes | None]:
        """(status, headers, body); body None means: close without answering."""
        with self._lock:
            wait = self._limited_until - time.monotonic()
            if wait > 0:
                self.throttled += 1
                self.requests.append(request)
        if wait > 0:
            error = {"error": {"message": "rate limited, retry later", "type": "rate_limit"}}
            return 429, {"Retry-After-Ms": f"{wait * 1000:.0f}"}, json.dumps(error).encode()
        fmt = (request.get("response_format") or {}).get("type")
        if fmt in self.reject_formats:
            with self._lock:
                self.requests.append(request)
                self.rejected += 1
            error = {"error": {"message": f"response_format {fmt} is not supported", "type": "invalid_request_error"}}
            return 400, {}, json.dumps(error).encode()
        reply, n = self._next(request)
        if self.latency:
            self._stopping.wait(self.latency)
        if reply.kind == "stall":
            self._stopping.wait(reply.seconds)
            return 200, {}, json.dumps(completion(request, json.dumps(good_draft(request)), n)).encode()
        if reply.kind == "status":
            body = reply.body if reply.body is not None else {"error": {"message": f"fake error {reply.status}"}}
            text = json.dumps(body)
            if reply.echo_auth:
                text = json.dumps({"error": {"message": f"bad credentials: {auth}", "header": auth}})
            if reply.status == 429:
                self._hold_to(reply.headers)
            return reply.status, reply.headers, text.encode()
        if reply.kind == "content":
            content = reply.content or ""
        elif reply.kind == "breaking":
            content = json.dumps(breaking_draft(request, reply.guard or ""))
        else:
            content = json.dumps(good_draft(request))
        return 200, {}, json.dumps(completion(request, content, n)).encode()

    def _hold_to(self, headers: dict[str, str]) -> None:
        """Refuse requests until the Retry-After just sent has passed."""
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            seconds = (float(lower["retry-after-ms"]) / 1000 if "retry-after-ms" in lower
                       else float(lower.get("retry-after", 0)))
        except ValueError:  # an HTTP date: not used by the tests
            return
        with self._lock:
            self._limited_until = max(self._limited_until, time.monotonic() + seconds)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to small responses

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                pass

            def setup(self) -> None:  # one handler per TCP connection
                super().setup()
                with server._lock:
                    server.connections += 1

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {}, b'{"error": {"message": "not found"}}')
                    return
                try:
                    request = json.loads(raw)
                except ValueError:
                    self._send(400, {}, b'{"error": {"message": "bad json"}}')
                    return
                with server._lock:
                    server._in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server._in_flight)
                    server.authorizations.append(self.headers.get("Authorization", ""))
                    server.arrivals.append(time.monotonic())
                try:
                    status, headers, body = server._answer(request, self.headers.get("Authorization", ""))
                finally:
                    with server._lock:
                        server._in_flight -= 1
                self._send(status, headers, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes | None) -> None:
                """Status line, headers and body in one write (no small segments for Nagle to hold)."""
                body = body or b""
                reason = self.responses.get(status, ("",))[0]
                lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
                         f"Content-Length: {len(body)}", f"Date: {self.date_time_string()}",
                         *(f"{name}: {value}" for name, value in headers.items())]
                try:
                    self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        return Handler
