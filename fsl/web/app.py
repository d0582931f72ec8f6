"""The Starlette application of `fsl serve`, built from explicit dependencies (no globals).

    app = build_app(Deps(config, runtime, clock))

Endpoints (SIGNALS.md 1, 2): `/c/{token}` (click: 302 to the message's own
URL), `/o/{token}` (the open pixel), `/u/{token}` (GET: a page with a
button; POST: unsubscribe at once, RFC 8058), `POST /hooks/events` (bearer
token), `POST /hooks/{sendgrid,mailgun,postmark,ses}` (the provider's own
verification: fsl/signals/webhooks.py), `/healthz`, `/metrics`.  A bad token records nothing and answers
404; a bad bearer 401; a bad body 4xx with the reason: never a 500 for what
a caller sent.  Store work runs in a worker thread, one request at a time
per process (the runtime's store holds one transaction at a time), and is
committed before the response is sent; tracking hits that arrive together
share one commit (group commit, fsl/signals/batching.py).
"""
from __future__ import annotations

import hmac
import html
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from fsl.config import Config
from fsl.runtime.withdrawal import StillHandingOver, await_withdrawn
from fsl.server_settings import ServerSettings
from fsl.signals import hits, recording, tokens, webhooks
from fsl.signals.batching import GroupCommit, MessageCache
from fsl.signals.recording import Ingesting

from .bodies import BodyError, json_items, read_limited
from .inbound import inbound_routes
from .metrics import Metrics

log = logging.getLogger("fsl.serve")

# a transparent 1x1 GIF
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


@dataclass
class Deps:
    config: Config
    runtime: Ingesting
    clock: Callable[[], datetime]
    metrics: Metrics = field(default_factory=Metrics)
    lock: threading.Lock = field(default_factory=threading.Lock)
    receiver: webhooks.Receiver | None = None  # provider webhooks (built from config when None)
    access_log: bool = True  # a line per answered request (refused ones are always logged)


def build_app(deps: Deps) -> Starlette:
    endpoints = _Endpoints(deps)
    routes = [
        Route("/c/{token}", endpoints.timed("click", endpoints.click), methods=["GET", "HEAD"]),
        Route("/o/{token}", endpoints.timed("open", endpoints.pixel), methods=["GET", "HEAD"]),
        Route("/u/{token}", endpoints.timed("unsubscribe", endpoints.unsubscribe), methods=["GET", "POST"]),
        Route("/hooks/events", endpoints.timed("hooks_events", endpoints.events), methods=["POST"]),
        Route("/hooks/{provider}", endpoints.timed("hooks_provider", endpoints.provider_hook), methods=["POST"]),
        *inbound_routes(deps),  # received mail from inbound parse (fsl/web/inbound.py)
        Route("/healthz", endpoints.timed("healthz", endpoints.healthz), methods=["GET", "HEAD"]),
        Route("/metrics", endpoints.timed("metrics", endpoints.metrics), methods=["GET"]),
    ]
    from .console import routes as console_routes  # the console's pages (CONSOLE.md)

    return Starlette(routes=routes + console_routes(deps))


def _reason(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=NO_STORE)


class _Endpoints:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        server = deps.config.server
        if server is None or not server.secret:
            raise ValueError("fsl serve needs `server.secret` in fsl.yaml")  # the CLI says so first
        self.server: ServerSettings = server
        self.secret: str = server.secret
        self.rules = hits.rules_for(server, deps.config.root)
        # what a sent message's token names never changes: kept, bounded (fsl/signals/batching.py)
        self.messages: MessageCache = MessageCache()
        self.tokens = tokens.Verifier(server.secret, server.secrets_old)
        self.kept_links: dict = {}  # outbox key -> its links kept at hand-over (fsl.signals.hits.judge_all)
        # tracking hits committed together when they arrive together (fsl/signals/batching.py)
        self.group: GroupCommit[Any, list[str]] = GroupCommit(self._commit)
        # clicks and opens: judged, kept and applied together, in one transaction per group
        self.hits: GroupCommit[hits.Pending, list[str]] = GroupCommit(self._commit_hits)
        self.lookups: GroupCommit[str, dict] = GroupCommit(partial(recording.find_messages, deps.runtime.db))

    def timed(self, name: str, handler: Callable[[Request], Awaitable[Response]]):
        metrics = self.deps.metrics
        observe = metrics.latency.labels(name).observe  # (a labelled child found once, not per request)
        answered: dict[int, Any] = {}  # status -> its counter
        access_log = self.deps.access_log

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                response = await handler(request)
            except BodyError as exc:
                response = _reason(exc.status, exc.reason)
            except StillHandingOver:
                log.warning("%s: recorded, but a message of a stopped enrollment is still being handed over", name)
                response = _reason(503, "recorded; a message of the stopped enrollment is still being handed "
                                        "over: try again (a retry records nothing twice)")
            except Exception as exc:  # noqa: BLE001 - the store failed: nothing was committed; say so, no details
                log.error("%s: %s while answering (nothing recorded)", name, type(exc).__name__)
                response = _reason(503, "the store is unavailable; nothing was recorded, try again")
            observe(time.perf_counter() - started)
            status = response.status_code
            counter = answered.get(status)
            if counter is None:
                counter = answered[status] = metrics.hits.labels(name, str(status))
            counter.inc()
            if access_log or status >= 400:  # (a line per click costs a twentieth of the server's CPU)
                client = request.client.host if request.client else "-"
                log.info("%s %s %s from %s", request.method, name, status, client)  # never the token
            return response

        return endpoint

    # ------------------------------------------------------------ tracking
    async def _claimed(self, request: Request, kind: str, endpoint: str):
        """(claim, message) of the request's token; either is None when it names nothing we sent."""
        claim = self.tokens.verify(request.path_params["token"], kind)
        message = None
        if claim is not None:
            message = self.messages.get(claim.outbox_key)
            if message is None:  # looked up together with the requests beside it (one read)
                message = (await self.lookups.submit([claim.outbox_key])).get(claim.outbox_key)
                self.messages.put(claim.outbox_key, message)
        if message is None:
            self.deps.metrics.tokens_rejected.labels(endpoint).inc()
        is_signal = kind != "unsubscribe" or request.method == "POST"  # a GET of /u/ is no signal
        if claim is not None and message is None and is_signal:
            await self._ingest([recording.unmatched_event(kind, claim.outbox_key, self.deps.clock())])
        return claim, message

    async def click(self, request: Request) -> Response:
        claim, message = await self._claimed(request, "click", "click")
        if claim is None or message is None:
            return _reason(404, "unknown link")
        outcome = await self._judged(request, "click", message, claim.link_index)
        if outcome.trap:  # the hidden link: no person follows it (fsl.signals.hits)
            return Response(b"", media_type="text/html; charset=utf-8", headers=NO_STORE)
        if outcome.url is None:  # the message has no such link: counted, but nowhere to go
            return _reason(404, "this link is no longer available")
        return RedirectResponse(outcome.url, status_code=302, headers=NO_STORE)

    async def pixel(self, request: Request) -> Response:
        claim, message = await self._claimed(request, "open", "open")
        if claim is None or message is None:
            return _reason(404, "unknown image")
        await self._judged(request, "open", message, None)
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    async def unsubscribe(self, request: Request) -> Response:
        claim, message = await self._claimed(request, "unsubscribe", "unsubscribe")
        if claim is None or message is None:
            return _reason(404, "unknown unsubscribe link")
        if request.method == "GET":  # link scanners fetch every URL: a GET never unsubscribes
            return _page(request.url.path)
        await read_limited(request, 4096)  # `List-Unsubscribe=One-Click` (RFC 8058) or our button's form
        await self._record("unsubscribe", message, None)
        return PlainTextResponse("You are unsubscribed. You will not receive further messages.\n",
                                 headers=NO_STORE)

    async def _judged(self, request: Request, kind: str, message: recording.Message,
                      link_index: int | None) -> hits.Outcome:
        """A click or open: human or machine (fsl.signals.hits), recorded before the answer."""
        # the peer, or X-Forwarded-For when the peer is a trusted proxy (uvicorn's proxy headers, fsl serve)
        call = hits.Request(int(time.time() * 1000), request.client.host if request.client else None,
                            request.headers.get("user-agent"), request.method)
        pending = hits.Pending(message, kind, link_index, call)
        await self.hits.submit([pending])  # judged and committed with the hits beside it
        assert pending.outcome is not None
        if pending.outcome.event is not None:
            self._count([pending.outcome.event])
        return pending.outcome

    def _commit_hits(self, group: list[hits.Pending]) -> list[str]:
        rt, now = self.deps.runtime, self.deps.clock()
        with self.deps.lock:
            # (a hit no rule stops on is recorded for the next tick: fsl.runtime.runtime.ingest_now)
            if len(self.kept_links) > 50_000:  # bounded: dropped and read again
                self.kept_links.clear()
            return rt.ingest_now([], now, prepare=partial(hits.judge_all, templates=rt.templates, batch=group,
                                                          rules=self.rules, at=now, known=self.kept_links),
                                 quiet_to_tick=True)

    async def _record(self, kind: str, message: recording.Message, link: recording.Link | None) -> None:
        event = recording.tracking_event(kind, message, self.deps.clock(), link)
        await self._ingest([event])

    async def _ingest(self, events: list) -> list[str]:
        warnings = await self.group.submit(events)  # committed (with the requests waiting beside it)
        self._count(events)
        return warnings

    def _commit(self, events: list) -> list[str]:
        with self.deps.lock:
            return recording.record(self.deps.runtime, events, self.deps.clock())

    def _count(self, events: list) -> None:
        for e in events:
            self.deps.metrics.recorded.labels(e.type).inc()

    # ------------------------------------------------------------ the events endpoint
    async def events(self, request: Request) -> Response:
        from fsl.io.coerce import Bad
        from fsl.io.events import event_from
        from fsl.io.result import ImportResult
        from fsl.io.rows import Unknown

        expected = self.server.events_token
        if not expected:
            return _reason(404, "the events endpoint is off (set server.events_token)")
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
            self.deps.metrics.verify_failed.labels("events").inc()
            return _reason(401, "missing or wrong bearer token")
        body = await read_limited(request, self.server.max_body)
        items = json_items(body, request.headers.get("content-type", ""))
        good, errors = [], []
        ignored = ImportResult()  # keys an event does not declare: ignored, said once (as the import does)
        unknown = Unknown(ignored, "the event")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                errors.append({"index": index, "reason": f"expected a JSON object, got {type(item).__name__}"})
                continue
            try:
                event, _ = event_from(item, self.deps.config, unknown=unknown, names_line=index + 1)
            except Bad as exc:
                errors.append({"index": index, "reason": str(exc)})
                continue
            event.source = "events"  # SIGNALS.md 5: where it came from
            good.append(event)
        def work() -> tuple[list[str], list]:
            with self.deps.lock:
                warnings, fresh = recording.record_new(self.deps.runtime, good, self.deps.clock())
            recorded = {id(e) for e in fresh}
            repeated = [e for e in good if id(e) not in recorded]
            if repeated:  # the retry of a stop whose first answer was a 503: answered once it has settled
                await_withdrawn(self.deps.runtime.db, repeated)
            return warnings, fresh

        warnings, fresh = await run_in_threadpool(work) if good else ([], [])
        warnings = [f"item {w.line - 1}: {w.reason}" for w in ignored.warnings] + warnings
        self._count(fresh)
        for e in fresh:
            self.deps.metrics.by_source.labels("events", e.type).inc()
        document: dict[str, Any] = {"recorded": len(fresh), "already_recorded": len(good) - len(fresh),
                                    "errors": errors, "warnings": warnings}
        return JSONResponse(document, status_code=422 if errors else 200)

    # ------------------------------------------------------------ provider webhooks
    async def provider_hook(self, request: Request) -> Response:
        """`POST /hooks/{provider}` (SIGNALS.md 2; the steps are fsl/signals/webhooks.py's)."""
        provider = request.path_params["provider"]
        receiver = self.receiver
        metrics = self.deps.metrics
        try:
            receiver.provider_settings(provider)  # 404 before the body is read
            body = await read_limited(request, self.server.max_body)
            parsed = await run_in_threadpool(receiver.check, provider, dict(request.headers), body, self.deps.clock())
            receipt = webhooks.Receipt(confirmed=None)
            if parsed.confirm_url is not None:
                receipt.confirmed = await run_in_threadpool(receiver.confirm_subscription, parsed.confirm_url)
        except webhooks.Refused as refused:
            if refused.status == 401:
                metrics.verify_failed.labels(provider).inc()
            log.warning("hooks/%s refused (%s): %s", provider, refused.status, refused.reason)
            return _reason(refused.status, refused.reason)
        errors, ignored = receiver.unknown_kinds(provider, parsed)
        if parsed.events:
            soft_after = self.deps.config.webhooks.soft_bounce_after  # type: ignore[union-attr]

            def work() -> webhooks.Receipt:
                with self.deps.lock:
                    return webhooks.receive(self.deps.runtime, provider, list(parsed.events), self.deps.clock(),
                                            soft_after)

            receipt = await run_in_threadpool(work)
        receipt.errors, receipt.ignored = errors, ignored
        for e in receipt.recorded:
            metrics.recorded.labels(e.type).inc()
            metrics.by_source.labels(provider, e.type).inc()
        if errors:
            metrics.items_rejected.labels(provider).inc(len(errors))
            log.warning("hooks/%s: %d item(s) not recorded: %s", provider, len(errors),
                        "; ".join(f"item {x['index']}: {x['reason']}" for x in errors[:5]))
        return JSONResponse(receipt.document(), status_code=receipt.status, headers=NO_STORE)

    @property
    def receiver(self) -> webhooks.Receiver:
        if self.deps.receiver is None:
            self.deps.receiver = webhooks.Receiver(self.deps.config)
        return self.deps.receiver

    # ------------------------------------------------------------ operations
    async def healthz(self, request: Request) -> Response:
        import sqlalchemy as sa

        def probe() -> None:
            with self.deps.runtime.db.read() as conn:
                conn.execute(sa.text("SELECT 1"))

        await run_in_threadpool(probe)
        return JSONResponse({"ok": True})

    async def metrics(self, request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(self.deps.metrics.text(), media_type=CONTENT_TYPE_LATEST)


def _page(action: str) -> Response:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Unsubscribe</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 4rem auto; text-align: center">
<h1>Unsubscribe</h1>
<p>Stop receiving these messages?</p>
<form method="post" action="{html.escape(action)}">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
</body></html>
"""
    return Response(body, media_type="text/html; charset=utf-8", headers=NO_STORE)
