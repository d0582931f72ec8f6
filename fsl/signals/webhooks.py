"""Provider webhooks end to end (SIGNALS.md 2): verify → parse → dedup → match →
record → (SES) confirm.  The adapters (`providers/`) are a pure library; this
module is what `POST /hooks/{provider}` does with them, free of any web
framework so that the app only translates `Refused` and `Receipt` to HTTP.

- `Receiver.check` runs before anything is written: a provider that is not
  configured is 404; a body that is not JSON 400 (nothing can be verified);
  a bad signature, bad credentials, a stale timestamp or a replayed
  signature 401; unknown event kinds and bad items are per-item errors (the
  good items go on).
- `receive` (under the app's store lock) matches each event to the message
  it concerns, records it with `source` = the provider, its `evidence` and
  `dedup` = `provider:event id`, and applies it at once through
  `Runtime.ingest_now` (a stop withdraws the enrollment's messages before the
  answer).  An event naming no message we sent is recorded unmatched
  (flag `unknown_message`, reported by `fsl status`).  A `deferred` that
  continues a run of temporary failures older than
  `webhooks.soft_bounce_after` also records `bounced` kind soft.

Replays: SendGrid and Mailgun sign a timestamp, refused when more than
`max_age` from now; within that window a signature seen before is refused
too (`ReplayGuard`, per process).  A provider's own retry is signed afresh,
and anything that gets past (another `fsl serve` process, SNS, which resends
the same signed message) records nothing twice: the dedup key.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Mapping

import sqlalchemy as sa

from fsl.engine.model import Event
from fsl.store.schema import actions, events as events_table
from fsl.store.sent import references, sends_by_message_id

from . import recording
from .providers import ADAPTERS, BadSignature, Parsed, ProviderEvent, match, sns
from .providers.common import clip, header
from .providers.ses import confirm_url_allowed

log = logging.getLogger("fsl.serve")

# the kinds each provider documents that have no FSL event: accepted and counted, never an error
DOCUMENTED_UNMAPPED: Mapping[str, frozenset[str]] = {
    "sendgrid": frozenset({"processed", "group_resubscribe"}),
    "mailgun": frozenset({"accepted", "rejected", "stored", "list_member_uploaded", "list_member_upload_error",
                          "list_uploaded"}),
    "postmark": frozenset({"Bounce", "SubscriptionChange", "Inbound", "Outbound"}),
    "ses": frozenset({"Send", "Reject", "Rendering", "Complaint", "Subscription", "UnsubscribeConfirmation"}),
}
# the event types a run of temporary failures is broken by: the address took a message
DELIVERY_TYPES = ("delivered", "opened", "clicked", "bounced")


class Refused(Exception):
    """The request records nothing: the HTTP status and a reason safe to show and log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ReplayGuard:
    """Signatures seen within their freshness window: a captured request sent
    again is refused (401) though its timestamp is still fresh."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._limit = limit

    def first_use(self, key: str, window: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) >= self._limit:  # drop what has expired (bounded memory)
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            if self._seen.get(key, 0.0) > now:
                return False
            self._seen[key] = now + 2 * window  # both sides of now are accepted: remember for both
            return True


@dataclass
class Receipt:
    """What one webhook call did; `document` is the JSON answer."""

    recorded: list[Event] = field(default_factory=list)
    already: int = 0
    unmatched: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    confirmed: bool | None = None

    @property
    def status(self) -> int:
        return 422 if self.errors else 200

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"recorded": len(self.recorded), "already_recorded": self.already,
                               "unmatched": self.unmatched, "ignored": self.ignored, "errors": self.errors,
                               "warnings": self.warnings}
        if self.confirmed is not None:
            doc["subscription_confirmed"] = self.confirmed
        return doc


def _file_fetcher(path: Path) -> Callable[[str], bytes]:
    def fetch(url: str) -> bytes:  # the URL was checked to be an SNS one before this is called
        return path.read_bytes()

    return fetch


def fetch_confirmation(url: str) -> None:
    """GET an SNS SubscribeURL (https, verified TLS, no redirects); raises on failure."""
    import httpx

    httpx.get(url, timeout=10.0, follow_redirects=False).raise_for_status()


class Receiver:
    """The provider webhooks of one `fsl serve` process."""

    def __init__(self, config: Any, *, confirm: Callable[[str], None] = fetch_confirmation) -> None:
        self.settings = config.webhooks
        self.confirm = confirm
        self.replays = ReplayGuard()
        ses = self.settings.ses if self.settings is not None else None
        if ses is not None and ses.certificate_file:
            self.certificates = sns.CertificateCache(_file_fetcher(config.root / ses.certificate_file))
        else:
            self.certificates = sns.DEFAULT_CERTIFICATES

    def provider_settings(self, provider: str) -> Mapping[str, Any]:
        found = self.settings.provider(provider) if self.settings is not None and provider in ADAPTERS else None
        if found is None:
            raise Refused(404, f"no webhook endpoint for {provider!r} (configure webhooks.{provider} in fsl.yaml)"
                          if provider in ADAPTERS else f"unknown provider {provider!r}")
        return found

    # ------------------------------------------------------------ before anything is written
    def check(self, provider: str, headers: Mapping[str, str], body: bytes, now: datetime) -> Parsed:
        settings = self.provider_settings(provider)
        if provider in ("mailgun", "ses"):  # their signature is inside the JSON body
            _require_json(body)
        adapter = ADAPTERS[provider]
        try:
            if provider == "ses":
                adapter.verify(headers, body, settings, now, certificates=self.certificates)
            else:
                adapter.verify(headers, body, settings, now)
        except BadSignature as why:
            raise Refused(401, f"webhook verification failed: {why}") from None
        replay_key = _replay_key(provider, headers, body)
        if replay_key is not None and not self.replays.first_use(replay_key, float(settings.get("max_age", 300))):
            raise Refused(401, "webhook verification failed: this signature was already used (a replay)")
        parsed = adapter.parse(body)
        whole = [e for e in parsed.errors if e.index is None]
        if whole:
            raise Refused(400, whole[0].reason)
        return parsed

    def unknown_kinds(self, provider: str, parsed: Parsed) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(errors, ignored) of the items of kinds FSL maps to nothing: documented ones are
        ignored; a kind the provider does not document is an error of its item."""
        errors = [{"index": e.index, "reason": e.reason} for e in parsed.errors]
        ignored = []
        known = DOCUMENTED_UNMAPPED.get(provider, frozenset())
        for index, what in parsed.ignored:
            first = what.split(" ", 1)[0]
            if what in known or first in known:
                ignored.append({"index": index, "kind": what})
            else:
                errors.append({"index": index, "reason": f"unknown event type {what!r}"})
        return errors, ignored

    def confirm_subscription(self, url: str) -> bool:
        ses = self.settings.ses if self.settings is not None else None
        if ses is None or not ses.confirm_subscriptions or not confirm_url_allowed(url):
            return False
        try:
            self.confirm(url)
        except Exception as exc:  # noqa: BLE001 - SNS sends the confirmation again; say why not now
            raise Refused(502, f"the SNS subscription could not be confirmed ({type(exc).__name__}); "
                               "SNS will send the confirmation again") from None
        log.info("ses: SNS subscription confirmed")
        return True


def _require_json(body: bytes) -> None:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Refused(400, f"the body is not JSON: {clip(str(exc), 120)}") from None


def _replay_key(provider: str, headers: Mapping[str, str], body: bytes) -> str | None:
    if provider == "sendgrid":
        sig = header(headers, "X-Twilio-Email-Event-Webhook-Signature")
        return f"sendgrid:{sig.strip()}" if sig else None
    if provider == "mailgun":
        signature = json.loads(body).get("signature")
        token = signature.get("token") if isinstance(signature, dict) else None
        return f"mailgun:{token}" if isinstance(token, str) else None
    return None  # Postmark signs nothing; SNS resends the same signed message on retry (dedup handles it)


# ------------------------------------------------------------ recording (under the store lock)

def receive(runtime: recording.Ingesting, provider: str, events: list[ProviderEvent], now: datetime,
            soft_after: float) -> Receipt:
    """Match, record and apply `events`; the receipt says what happened."""
    receipt = Receipt()
    out: list[Event] = []
    with runtime.db.read() as conn:
        keys = [dedup_key(e) for e in events]
        seen = _stored_keys(conn, keys)
        ours = _by_message_id(conn, [e.message_id for e in events if e.message_id and dedup_key(e) not in seen])
        for pe, key in zip(events, keys):
            if key in seen:
                receipt.already += 1
                continue
            seen.add(key)
            message = ours.get(pe.message_id or "")
            if message is None:  # by the provider's id of the message (or a Message-ID without brackets)
                target = match(conn, pe)
                message = recording.find_message(runtime.db, target) if target is not None else None
            event = to_event(pe, key, message, runtime.templates, now)
            if message is None:
                receipt.unmatched += 1
            out.append(event)
            soft = _soft_bounce(conn, event, out, soft_after) if event.type == "deferred" else None
            if soft is not None:
                out.append(soft)
    if out:
        receipt.warnings = recording.record(runtime, out, now)
        fresh_keys = {e.dedup for e in out}
        with runtime.db.read() as conn:  # what this call (not a concurrent one) stored
            stored = _stored_keys(conn, [k for k in fresh_keys if k])
        receipt.recorded = [e for e in out if e.dedup in stored]
        receipt.already += len(out) - len(receipt.recorded)
    return receipt


def _by_message_id(conn: Any, ids: list[str]) -> dict[str, recording.Message]:
    """The sent messages of these Message-IDs (`<...>`, as stored), one query per 500: a
    provider's batch mostly names our own Message-IDs (`match` covers the rest)."""
    a = actions.c
    found: dict[str, list[recording.Message]] = {}
    stored = {given: mid for given, mid in references(set(ids)).items() if given == mid}  # `<...>` only
    for r in sends_by_message_id(conn, stored, (a.key, a.enrollment, a.contact, a.deal, a.step, a.template)):
        found.setdefault(r["message_id"], []).append(recording.Message(r["key"], r["enrollment"], r["contact"],
                                                                       r["deal"], r["step"], r["template"]))
    return {mid: rows[0] for mid, rows in found.items() if len(rows) == 1}  # ambiguous: none


def dedup_key(e: ProviderEvent) -> str:
    key = e.event_id if e.event_id.startswith(f"{e.provider}:") else f"{e.provider}:{e.event_id}"
    return clip(key, 300)


def _stored_keys(conn: Any, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        found.update(r[0] for r in conn.execute(sa.select(events_table.c.dedup).where(events_table.c.dedup.in_(chunk))))
    return found


def to_event(pe: ProviderEvent, key: str, message: recording.Message | None, templates: Any,
             now: datetime) -> Event:
    """The event row of a provider event.  A click's `url` names the template's link tag
    when it is one of them (field `link`, as a tracked click); the instant is the
    provider's, never later than now (a provider's clock a little ahead waits for nothing)."""
    fields = dict(pe.fields)
    evidence = list(pe.evidence)
    if pe.type == "clicked" and message is not None:
        for link in recording.message_links(templates, message):
            if link.url == fields.get("url"):
                fields["link"] = link.tag
    at = min(pe.at, now).replace(microsecond=0)
    if message is None:
        ident = pe.message_id or pe.provider_message_id or "(no message id)"
        evidence.append(clip(f"unmatched: no message sent by fsl has id {ident}"))
        if pe.recipient:
            evidence.append(clip(f"recipient {pe.recipient}"))
        return Event(at=at, type=pe.type, step=clip(ident, 200), fields=fields, source=pe.provider,
                     evidence=tuple(evidence), dedup=key)
    return Event(at=at, type=pe.type, contact=message.contact, step=message.step, fields=fields,
                 enrollment=message.enrollment, source=pe.provider, evidence=tuple(evidence), dedup=key)


def _soft_bounce(conn: Any, event: Event, batch: list[Event], soft_after: float) -> Event | None:
    """`bounced` kind soft when this deferral continues a run of temporary failures for the
    contact that began more than `soft_after` seconds ago, with no delivery (nor an earlier
    soft bounce) since it began.  Recorded once per run: a later delivery starts a new one."""
    if event.contact is None:
        return None
    e = events_table.c
    last_ok = conn.execute(sa.select(sa.func.max(e.at)).where(
        e.contact == event.contact, e.type.in_(DELIVERY_TYPES))).scalar()
    since = int(last_ok) if last_ok is not None else None
    q = sa.select(sa.func.min(e.at), sa.func.count()).where(e.contact == event.contact, e.type == "deferred")
    if since is not None:
        q = q.where(e.at >= since)
    first, count = conn.execute(q).one()
    earlier = [x.at for x in batch if x.contact == event.contact and x.type == "deferred" and x is not event]
    starts = [datetime.fromtimestamp(int(first), event.at.tzinfo)] if first is not None else []
    started = min(starts + earlier + [event.at])
    if any(x.contact == event.contact and x.type == "bounced" for x in batch):
        return None
    if event.at - started < timedelta(seconds=soft_after):
        return None
    hours = soft_after / 3600
    return Event(at=event.at, type="bounced", contact=event.contact, step=event.step, enrollment=event.enrollment,
                 fields={"kind": "soft", "reason": event.fields.get("reason", "")}, source=event.source,
                 evidence=(f"deferred since {started.isoformat()} ({int(count or 0) + len(earlier) + 1} deferrals)",
                           f"past webhooks.soft_bounce_after ({hours:g} hours)"),
                 dedup=clip(f"{event.dedup}:soft", 300))

