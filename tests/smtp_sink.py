"""A real SMTP server on loopback for delivery tests (aiosmtpd).

`SmtpSink` records every accepted message (parsed, with its envelope and
whether the session logged in), can require AUTH (PLAIN/LOGIN, allowed
without TLS on loopback) or offer STARTTLS, and can be told to answer the
next N messages with a temporary (451) or permanent (550) failure, or to
answer RCPT or DATA for one address with a given reply (`answer`).  It
accepts a message with `250 Ok: queued as Q0001` (a queue id, as Postfix).
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import ssl
import threading
import time
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from .ports import free_port  # noqa: F401 - the tests import it from here too


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    login: str | None  # the user the session logged in as, if it did
    at: float = field(default_factory=time.monotonic)  # when DATA was accepted (this process's monotonic clock)


class _Handler:
    def __init__(self, sink: "SmtpSink") -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        with self.sink.lock:
            scripted = self.sink._scripted("mail", address)
        if scripted is not None:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        with self.sink.lock:
            scripted = self.sink._scripted("rcpt", address)
            if scripted is not None:
                return scripted
            if self.sink._rcpt_failures:
                self.sink._rcpt_failures -= 1
                return self.sink._rcpt_answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.sink.data_delay:  # a slow server: each message takes this long to be accepted
            await asyncio.sleep(self.sink.data_delay)
        with self.sink.lock:
            scripted = self.sink._scripted("data", envelope.rcpt_tos[0] if envelope.rcpt_tos else "")
            if scripted is not None:
                self.sink.refused += 1
                return scripted
            if self.sink._failures:
                self.sink._failures -= 1
                self.sink.refused += 1
                return self.sink._answer
            raw = envelope.original_content or envelope.content
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
            self.sink.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), msg, raw, login))
            return f"250 Ok: queued as Q{len(self.sink.messages):04d}"


class SmtpSink:
    """Start with `with SmtpSink(...) as sink:`; `sink.port` is where it listens."""

    def __init__(self, *, users: dict[str, str] | None = None, tls_context: ssl.SSLContext | None = None,
                 require_starttls: bool = False, data_delay: float = 0.0) -> None:
        self.users = users
        self.data_delay = data_delay
        self.messages: list[Received] = []
        self.refused = 0
        self.connections = 0
        self.lock = threading.Lock()
        self._failures = 0
        self._answer = ""
        self._rcpt_failures = 0
        self._rcpt_answer = ""
        self._scripts: dict[tuple[str, str], list] = {}  # (phase, address) -> [answer, times left or None]
        self.port = free_port()
        kwargs: dict = {}
        if users is not None:
            kwargs.update(auth_required=True, auth_require_tls=False, authenticator=self._authenticate)
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd warns about AUTH without TLS
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        self._count_connections()

    def _count_connections(self) -> None:
        factory = self.controller.factory

        def counting():
            with self.lock:
                self.connections += 1
            with warnings.catch_warnings():  # AUTH without TLS: on purpose, on loopback
                warnings.simplefilter("ignore")
                return factory()

        self.controller.factory = counting  # type: ignore[method-assign]

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def fail_next(self, n: int, code: int = 451, text: str | None = None) -> None:
        """Answer the DATA of the next `n` messages with `code`."""
        text = text or ("Try again later" if code < 500 else "Mailbox unavailable")
        with self.lock:
            self._failures, self._answer = n, f"{code} {text}"

    def refuse_rcpt_next(self, n: int, code: int = 550, text: str = "No such user") -> None:
        with self.lock:
            self._rcpt_failures, self._rcpt_answer = n, f"{code} {text}"

    def answer(self, address: str, phase: str, reply: str, times: int | None = None) -> None:
        """Answer `phase` (`mail` for a sender, `rcpt` or `data` for a recipient) for `address` with `reply`, the
        next `times` times (None: always); then as usual."""
        with self.lock:
            self._scripts[(phase, address)] = [reply, times]

    def _scripted(self, phase: str, address: str) -> str | None:
        script = self._scripts.get((phase, address))
        if script is None or script[1] == 0:
            return None
        if script[1] is not None:
            script[1] -= 1
        return script[0]

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        with self.lock:
            self.connections = 0  # the controller's own start-up probe is not a client
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
