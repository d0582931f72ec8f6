"""A real HTTP server on loopback for webhook tests (stdlib ThreadingHTTPServer).

It records every request (method, path, headers, parsed JSON body) and
answers from a queue of programmed responses (`sink.respond(500)`,
`sink.respond(429, headers={"Retry-After": "120"})`), then 200 once the
queue is empty.  `delay` makes it slow, to test timeouts.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None


@dataclass
class Answer:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class HttpSink:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with sink.lock:
                    sink.requests.append(Request(self.command, self.path, dict(self.headers.items()), body, parsed))
                    answer = sink.answers.pop(0) if sink.answers else Answer(200, '{"ok": true}')
                if answer.delay:
                    time.sleep(answer.delay)
                data = answer.body.encode()
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that gave up (timeout tests)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def respond(self, status: int, body: str = "", headers: dict[str, str] | None = None,
                delay: float = 0.0) -> None:
        with self.lock:
            self.answers.append(Answer(status, body, headers or {}, delay))

    def __enter__(self) -> "HttpSink":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
