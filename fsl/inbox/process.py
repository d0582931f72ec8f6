"""One message from the inbox → events recorded and applied, or kept as unmatched (SIGNALS.md 3).

Each event carries `source: inbox`, the classification's evidence and a dedup
key derived from the message (its Message-ID, or the hash of its bytes), so a
re-read of the mailbox (a UIDVALIDITY change, a crash before the UID was
stored) records nothing twice.  Events go through the runtime's
`ingest_now`: a stop, a pause or an unsubscribe is committed with them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from fsl.engine.model import Event

from . import state
from .classify import Classification, classify
from .mail import Mail, read_mail
from .matching import Matcher, Target, address_of

MAX_DEDUP = 300


@dataclass
class Outcome:
    label: str
    matched: bool
    events: list[Event] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incoming:
    """A message as fetched: its bytes, UID and the server's INTERNALDATE."""

    raw: bytes
    uid: int | None = None
    internaldate: datetime | None = None


@dataclass
class Prepared:
    uid: int | None
    outcome: Outcome
    unmatched: dict[str, Any] | None  # the row to keep when it matched nothing
    error: str | None = None  # why the classifier could not read it (kept as unmatched, label `error`)


class Processor:
    """Classify, match and record messages for one runtime (fsl.runtime.runtime.Runtime)."""

    def __init__(self, runtime: Any, mailbox: str, own: frozenset[str] = frozenset()) -> None:
        self.rt = runtime
        self.mailbox = mailbox
        self.own = own | _channel_addresses(runtime.config)

    def handle(self, raw: bytes, *, uid: int | None, internaldate: datetime | None, now: datetime) -> Outcome:
        """Classify, match and record one message (see `prepare` and `commit` for a batch)."""
        prepared = self.prepare(raw, uid=uid, internaldate=internaldate, now=now)
        self.commit([prepared], now)
        return prepared.outcome

    def prepare(self, raw: bytes, *, uid: int | None, internaldate: datetime | None, now: datetime) -> "Prepared":
        """Read, classify and match a message; nothing is written yet."""
        return self.prepare_batch([Incoming(raw, uid, internaldate)], now)[0]

    def prepare_batch(self, batch: list["Incoming"], now: datetime) -> list["Prepared"]:
        """Read, classify and match a FETCH batch in one read transaction (the sends its
        messages name read in one query); nothing is written yet.  A message the classifier
        cannot read is kept as unmatched with the reason (`Prepared.error`), never lost."""
        mails: list[Mail | None] = []
        for item in batch:
            try:
                mails.append(read_mail(item.raw))
            except Exception:  # noqa: BLE001 - read_mail means never to raise; if it does, see below
                mails.append(None)
        try:
            with self.rt.db.read() as conn:
                matcher = Matcher(conn, self._subject_of)
                matcher.prefetch([m for m in mails if m is not None])
                return [self._prepare_one(item, mail, matcher, now) for item, mail in zip(batch, mails)]
        except Exception:  # noqa: BLE001 - the batch's read failed: each message alone, so one at fault is named
            return [self._prepare_alone(item, now) for item in batch]

    def _prepare_alone(self, item: "Incoming", now: datetime) -> "Prepared":
        try:
            with self.rt.db.read() as conn:
                return self._prepare_one(item, read_mail(item.raw), Matcher(conn, self._subject_of), now, reraise=True)
        except Exception as exc:  # noqa: BLE001 - kept as unmatched with why
            return self.failed(item.raw, uid=item.uid, now=now, why=f"{type(exc).__name__}: {str(exc)[:200]}")

    def _prepare_one(self, item: "Incoming", mail: Mail | None, matcher: Matcher, now: datetime,
                     reraise: bool = False) -> "Prepared":
        try:
            if mail is None:
                mail = read_mail(item.raw)
            verdict, target, per_address = self._classify_and_match(mail, matcher, now)
        except Exception as exc:  # noqa: BLE001 - one message that breaks the classifier must not stop the pass
            if reraise:
                raise
            return self.failed(item.raw, uid=item.uid, now=now, why=f"{type(exc).__name__}: {str(exc)[:200]}")
        if target is None and not per_address:
            row = dict(dedup=mail.dedup[:MAX_DEDUP], mailbox=self.mailbox, uid=item.uid, at=now, sender=mail.sender,
                       subject=mail.subject, label=verdict.label, evidence=verdict.evidence,
                       headers=_headers(item.raw))
            return Prepared(item.uid, Outcome(verdict.label, False, evidence=verdict.evidence), row)
        events = self._events(mail, verdict, target, per_address, item.internaldate, now)
        return Prepared(item.uid, Outcome(verdict.label, True, events, [], verdict.evidence), None)

    def failed(self, raw: bytes, *, uid: int | None, now: datetime, why: str) -> "Prepared":
        """A message the classifier could not read: kept as unmatched (label `error`), never lost."""
        import hashlib

        dedup = "inbox:sha256:" + hashlib.sha256(raw).hexdigest()[:40]
        row = dict(dedup=dedup, mailbox=self.mailbox, uid=uid, at=now, sender="", subject="", label="error",
                   evidence=(why,), headers=_headers(raw))
        return Prepared(uid, Outcome("error", False, evidence=(why,)), row, error=why)

    def commit(self, batch: list["Prepared"], now: datetime) -> None:
        """Record the batch's events (applied at once: stops, pauses, suppression) and keep its
        unmatched mail, before any of it is marked on the server."""
        events = [e for p in batch for e in p.outcome.events]
        if events:
            warnings = self.rt.ingest_now(events, now)
            for p in batch:
                if p.outcome.events:
                    p.outcome.warnings = warnings  # the engine's warnings are per call, not per event
        rows = [p.unmatched for p in batch if p.unmatched is not None]
        if rows:
            with self.rt.db.write() as conn:
                for row in rows:
                    state.store_unmatched(conn, **row)

    def _classify_and_match(self, mail: Mail, matcher: Matcher, now: datetime):
        """(classification, target of a reply, {failed address: target} of a bounce)."""
        target = matcher.match(mail, now)
        zone = self._zone(target)
        recipients = target.recipients if target is not None else frozenset()
        ours = recipients
        verdict = classify(mail, recipients=recipients, ours=ours, own=self.own, zone=zone)
        per_address: dict[str, Target] = {}
        if verdict.label.startswith("bounced") or verdict.label == "deferred":
            for signal in verdict.signals:
                if signal.address is None:
                    continue
                hit = target if target is not None and target.step is not None else matcher.match(mail, now, [signal.address])
                if hit is not None:
                    per_address[signal.address] = hit
            return verdict, None, per_address
        return verdict, target, per_address

    def _events(self, mail: Mail, verdict: Classification, target: Target | None, per_address: dict[str, Target],
                internaldate: datetime | None, now: datetime) -> list[Event]:
        events: list[Event] = []
        for i, signal in enumerate(verdict.signals):
            hit = per_address.get(signal.address or "") if signal.address else target
            if hit is None:
                continue
            at = _dated(mail.date or internaldate, hit.sent_at, now)
            evidence = (*verdict.evidence, f"matched: {hit.evidence}")
            events.append(Event(at=at, type=signal.type, contact=hit.contact, step=hit.step, enrollment=hit.enrollment,
                                fields=dict(signal.fields), source="inbox", evidence=tuple(e[:200] for e in evidence),
                                dedup=f"{mail.dedup}#{i}"[:MAX_DEDUP]))
        return events

    def _zone(self, target: Target | None) -> str:
        """The contact's time zone (return dates are read in it), else the project's."""
        if target is not None and target.zone:
            return target.zone
        return getattr(self.rt.config, "timezone", "UTC") or "UTC"

    def _subject_of(self, row: Any) -> str | None:
        """The subject a delivered send had, rendered again from its template and stored vars."""
        from fsl.delivery.render import render_action
        from fsl.store.rows import action_from

        try:
            rec, vars = action_from(row)
            with self.rt.store.snapshot() as store:
                contact = store.get_contact(rec.contact)
                deal = store.get_deal(rec.deal) if rec.deal else None
            if contact is None:
                return None
            return render_action(rec, contact, deal, self.rt.templates, self.rt.config, vars).subject
        except Exception:  # noqa: BLE001 - a template since changed or an llm send: no subject to compare
            return None


def _dated(at: datetime | None, sent: datetime | None, now: datetime) -> datetime:
    """The Date header (else INTERNALDATE) kept between the answered send and the read."""
    at = at or now
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    if sent is not None and at < sent:
        at = sent
    return min(at, now).replace(microsecond=0)


def _headers(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw[:state.MAX_HEADERS * 2] else raw.split(b"\n\n", 1)[0]
    return head[: state.MAX_HEADERS].decode("utf-8", "replace")


def _channel_addresses(config: Any) -> frozenset[str]:
    found: set[str] = set()
    for channel in getattr(config, "channels", {}).values():
        for name in ("from_", "reply_to", "return_path"):
            addr = address_of(getattr(channel.settings, name, None))
            if addr:
                found.add(addr)
    inbox = getattr(config, "inbox", None)
    if inbox is not None and "@" in inbox.username:
        found.add(inbox.username.lower())
    return frozenset(found)
