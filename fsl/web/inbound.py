"""`POST /hooks/inbound/{sendgrid,mailgun,postmark}`: received mail posted by a provider's
inbound parse, classified, matched and recorded exactly as the IMAP inbox does (SIGNALS.md 3;
the payloads are fsl/signals/inbound.py's).

Configured by `webhooks.inbound` (absent: 404).  SendGrid and Postmark authenticate with the
basic credentials there, checked before the body is read; Mailgun with its route signature
(`webhooks.mailgun.signing_key`).  The body is limited to `max_bytes` (413).  The message's
events are committed before the answer (a stop is immediate), and a provider's retry records
nothing twice: the dedup key comes from the Message-ID, or the hash of the message's bytes.
Unmatched mail is kept and reported like the inbox's.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fsl.inbox.process import Incoming, Processor
from fsl.signals import inbound

from .bodies import BodyError, read_limited

log = logging.getLogger("fsl.serve")
NO_STORE = {"Cache-Control": "no-store, private"}


def inbound_routes(deps: Any) -> list[Route]:
    """The route, for fsl/web/app.py's list (`deps`: app.Deps)."""
    endpoint = _Inbound(deps).post
    # Mailgun posts the raw MIME (`body-mime`) only to a forward() URL that ends in "mime"
    return [Route("/hooks/inbound/{provider}", endpoint, methods=["POST"]),
            Route("/hooks/inbound/{provider}/mime", endpoint, methods=["POST"])]


def _refuse(status: int, reason: str) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="fsl inbound"'} if status == 401 else {}
    return JSONResponse({"error": reason}, status_code=status, headers={**NO_STORE, **headers})


def basic_ok(authorization: str | None, username: str, password: str) -> bool:
    scheme, _, encoded = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, given = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    # both compared, whatever the first gives: the time taken says nothing about either
    ok_user = hmac.compare_digest(user.encode("utf-8"), username.encode("utf-8"))
    ok_password = hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8"))
    return bool(sep) and ok_user and ok_password


class _Inbound:
    def __init__(self, deps: Any) -> None:
        self.deps = deps
        self.processors: dict[str, Processor] = {}

    async def post(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        hooks = self.deps.config.webhooks
        settings = hooks.inbound if hooks is not None else None
        if provider not in inbound.PROVIDERS or settings is None or (provider == "mailgun" and hooks.mailgun is None):
            return _refuse(404, "no such endpoint")
        if provider != "mailgun" and not basic_ok(request.headers.get("authorization"), settings.username,
                                                  settings.password):
            log.warning("hooks/inbound/%s refused (401): bad or missing basic credentials", provider)
            return _refuse(401, "bad or missing basic credentials")
        try:
            body = await read_limited(request, settings.max_bytes)
            message = await run_in_threadpool(self._parse, provider, request.headers.get("content-type") or "", body)
        except BodyError as exc:
            return _refuse(exc.status, exc.reason)
        except inbound.BadPayload as exc:
            log.warning("hooks/inbound/%s refused (%s): %s", provider, exc.status, exc.reason)
            return _refuse(exc.status, exc.reason)
        now = self.deps.clock()
        processor = self._processor(provider)

        def work() -> Any:
            with self.deps.lock:
                (prepared,) = processor.prepare_batch([Incoming(message.raw)], now)
                processor.commit([prepared], now)
                return prepared

        prepared = await run_in_threadpool(work)
        outcome = prepared.outcome
        repeated = any("already recorded" in w for w in outcome.warnings)
        for event in outcome.events:
            self.deps.metrics.by_source.labels(f"inbound-{provider}", event.type).inc()
        problems = list(message.problems) + ([prepared.error] if prepared.error else [])
        document = {"label": outcome.label, "matched": outcome.matched,
                    "recorded": 0 if repeated else len(outcome.events),
                    "already_recorded": len(outcome.events) if repeated else 0,
                    "rebuilt": message.rebuilt, "problems": problems}
        return JSONResponse(document, headers=NO_STORE)

    def _parse(self, provider: str, content_type: str, body: bytes) -> inbound.Inbound:
        if provider == "postmark":
            return inbound.postmark(body)
        fields = inbound.form_fields(body, content_type)
        if provider == "mailgun":
            inbound.mailgun_verify(fields, self.deps.config.webhooks.provider("mailgun"), self.deps.clock())
            return inbound.mailgun(fields)
        return inbound.sendgrid(fields)

    def _processor(self, provider: str) -> Processor:
        found = self.processors.get(provider)
        if found is None:
            found = self.processors[provider] = Processor(self.deps.runtime, f"hooks/inbound/{provider}")
        return found

