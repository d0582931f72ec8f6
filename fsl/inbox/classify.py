"""What a message in the inbox says (SIGNALS.md 3): the classification and its evidence.

In order: a delivery status notification (dsn.py); an automatic reply
(autoreply.py; an out-of-office gets its return date, dates.py); a message
into the thread from someone we did not write to (a forward); a request to
stop in the new text (optout.py); anything else a human reply.  The result
names event types and fields, not events: matching (who, which step, when)
is matching.py's.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from . import autoreply, dates, dsn, optout
from .mail import Mail

MAX_KEPT_TEXT = 2000  # characters of a human reply's new text kept on its event


@dataclass(frozen=True)
class Signal:
    """One event a message gives: its type, fields and, for a bounce, the failed address."""

    type: str
    fields: dict[str, Any] = field(default_factory=dict)
    address: str | None = None  # bounced/deferred: the recipient that failed


@dataclass(frozen=True)
class Classification:
    label: str  # bounced/hard, bounced/soft, deferred, out_of_office, auto_reply, unsubscribe_request, forwarded,
    #             replied+forwarded, human
    signals: tuple[Signal, ...]
    evidence: tuple[str, ...]
    return_date: date | None = None


def classify(mail: Mail, *, recipients: frozenset[str] = frozenset(), ours: frozenset[str] = frozenset(),
             own: frozenset[str] = frozenset(), zone: str = "UTC") -> Classification:
    """`recipients`: who the answered message went to (the contact's addresses), when known;
    `ours`: every address we wrote to recently (finds the recipient of a free-form bounce);
    `own`: our own addresses (the inbox, the channels' from and reply_to: never "new" in a reply);
    `zone`: the contact's time zone (return dates are read in it)."""
    verdict = _classify(mail, recipients, ours, own, zone)
    if mail.notes:  # where the text came from (a winmail.dat) and what it held, for `fsl explain`
        verdict = replace(verdict, evidence=(*verdict.evidence, *mail.notes))
    return verdict


def _classify(mail: Mail, recipients: frozenset[str], ours: frozenset[str], own: frozenset[str],
              zone: str) -> Classification:
    bounce = dsn.failures(mail, ours | recipients)
    if bounce:
        first = bounce[0]
        label = f"bounced/{first.kind}" if first.event == "bounced" else "deferred"
        signals = tuple(Signal(f.event, {"kind": f.kind} if f.event == "bounced" else
                               ({"reason": f.status} if f.status else {}), f.address) for f in bounce)
        return Classification(label, signals, first.evidence)
    auto = autoreply.auto_evidence(mail)
    text = optout.new_text(mail.text)
    if auto:
        away = autoreply.is_out_of_office(mail, text)
        if away is None:
            return Classification("auto_reply", (Signal("replied", {"kind": "auto_reply"}),), tuple(auto))
        back, phrase = dates.return_date(text, _local(mail.date, zone)) if text else (None, None)
        if back is None:
            back = _apple_end(mail, zone)
        fields: dict[str, Any] = {"kind": "out_of_office"}
        evidence = [*auto, f"absence: {away!r}"]
        if back is not None:
            fields["return_date"] = back.isoformat()
            evidence.append(f"return date {back.isoformat()} from {phrase or 'X-Apple-Criteria'!r}")
        return Classification("out_of_office", (Signal("replied", fields),), tuple(evidence), back)
    added = _added(mail, recipients, own)
    if recipients and mail.sender and mail.sender not in recipients:
        new = [mail.sender, *added]
        return Classification("forwarded", (Signal("forwarded", {"to": ", ".join(dict.fromkeys(new))}),),
                              (f"From: {mail.sender} (not a recipient of the message answered)",))
    stop = optout.stop_phrase(text)
    if stop is not None:
        return Classification("unsubscribe_request",
                              (Signal("replied", {"kind": "unsubscribe_request"}), Signal("unsubscribed")),
                              (f"stop request in the new text: {stop!r}",))
    reply = Signal("replied", {"kind": "human", "text": text[:MAX_KEPT_TEXT]})
    if added:
        return Classification("replied+forwarded", (reply, Signal("forwarded", {"to": ", ".join(added)})),
                              (f"new addresses in To/Cc: {', '.join(added)}",))
    return Classification("human", (reply,), ("no bounce, automatic-reply or stop marker",))


def _added(mail: Mail, recipients: frozenset[str], own: frozenset[str]) -> list[str]:
    """Addresses in To/Cc that the answered message did not go to, other than our own."""
    if not recipients:
        return []
    return [a for a in dict.fromkeys(mail.to + mail.cc) if a not in recipients and a != mail.sender and a not in own]


def _local(at: datetime | None, zone: str) -> datetime:
    at = at or datetime.now(timezone.utc)
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return at.astimezone(tz).replace(tzinfo=None)


def _apple_end(mail: Mail, zone: str) -> date | None:
    """Apple's vacation responder states its period: X-Apple-Criteria: {...,endDate=...}."""
    found = re.search(r"endDate=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", mail.header("X-Apple-Criteria"))
    if not found:
        return None
    end = datetime.fromisoformat(found.group(1).replace("Z", "+00:00")) + timedelta(seconds=1)
    return _local(end, zone).date()
