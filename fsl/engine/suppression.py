"""One opt-out stops everything (SIGNALS.md sections 1-3).

Two kinds of suppression, both decided when an event is ingested, so the
simulator and the production tick (the same engine over another store) agree:

* **The contact opted out**: `unsubscribed`, `complained`, or a reply of kind
  `unsubscribe_request`.  Every running enrollment of the contact in a
  playbook that sends messages ends at once -- whatever that playbook's own
  rules say -- as `unsubscribed` (or the outcome its own `stop on
  unsubscribed ... as NAME` names), and its messages not yet handed to a
  channel are withdrawn (Engine.cancel_outbox, the same path as a stop rule).
  Such a playbook never enrolls the contact again.  Task-only playbooks are
  left alone: a person may still call someone who asked for no more email.
* **The address bounced hard**: `bounced` whose `kind` is not `soft`.  The
  address the bounced message went to joins the store's suppression list
  (normalized: trimmed, lower case); any later send, by any playbook to any
  contact, addressed to it is skipped with a journal entry.  The enrollment
  goes on: its tasks and its other channels are still fine.
"""
from __future__ import annotations

from datetime import datetime
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Any, Iterable

from .evaluate import truthy
from .host import EngineHost
from .recipients import recipient
from .model import ENDED, Contact, Enrollment, Event
from .timing import iso

if TYPE_CHECKING:
    from .executor import Pending

OPT_OUT_EVENTS = ("unsubscribed", "complained")
OPT_OUT_REPLY = "unsubscribe_request"
OUTCOME = "unsubscribed"


def opts_out(e: Event) -> bool:
    """Whether the event says the contact wants no more messages."""
    return e.type in OPT_OUT_EVENTS or (e.type == "replied" and (e.fields or {}).get("kind") == OPT_OUT_REPLY)


def hard_bounce(e: Event) -> bool:
    """A `bounced` that is not a soft one.  A bounce that gives no kind counts as
    hard: a temporary failure arrives as `deferred`, never as a bare bounce."""
    return e.type == "bounced" and (e.fields or {}).get("kind") != "soft"


def describe(e: Event) -> str:
    """The event as `fsl explain` shows it: type, fields, where it came from."""
    shown = {k: v for k, v in (e.fields or {}).items() if k != "source"}
    text = e.type + "".join(f" {k}={iso(v) if isinstance(v, datetime) else v}" for k, v in sorted(shown.items()))
    text += f" at {iso(e.at)}"
    if e.step:
        text += f" about the message of step {e.step}"
    origin = [f"from {e.fields['source']}"] if (e.fields or {}).get("source") else []
    row = getattr(e, "row_id", 0)
    if row:
        origin.append(f"event #{row}")
    elif e.line:
        origin.append(f"line {e.line}")
    return text + (f" ({', '.join(origin)})" if origin else "")


# ------------------------------------------------------------------ opt-outs

def opted_out(engine: EngineHost, contact_id: str, at: datetime) -> Event | None:
    """The contact's first opt-out event at or before `at`, if any."""
    store = engine.store
    found = [e for kind in (*OPT_OUT_EVENTS, "replied") for e in store.contact_events(contact_id, kind)
             if e.at <= at and opts_out(e)]
    return min(found, key=lambda e: (e.at, e.seq)) if found else None


def suppress_contact(engine: EngineHost, e: Event) -> None:
    """An opt-out: end the contact's enrollments in playbooks that send, and
    withdraw their unsent messages (before their own rules look at the event)."""
    if e.contact is None:  # ingest calls it for events with a contact only
        return
    reason = f"suppressed: {describe(e)}"
    for en in sorted(engine.store.contact_enrollments(e.contact), key=engine.order):
        if en.status == ENDED or not engine.program(en).sends:
            continue
        outcome, line = _outcome(engine, en, e)
        engine.end(en, outcome, e.at, reason, line)
        engine.cancel_outbox(en, reason)


def _outcome(engine: EngineHost, en: Enrollment, e: Event) -> tuple[str, int]:
    """`unsubscribed`, or what the playbook's own `stop on unsubscribed ... as NAME`
    (`stop on complained ... as NAME` for a complaint) names.  A plan does not
    say whether `as stopped` was written, so the default outcome gives way."""
    prog = engine.program(en)
    kinds = ("complained", "unsubscribed") if e.type == "complained" else ("unsubscribed",)
    ctx = None
    for kind in kinds:
        for rule in prog.stop_on.get(kind, ()):
            if rule.where is not None:
                ctx = ctx or engine.ctx(en, e.at, e)
                if not truthy(rule.where(ctx)):
                    continue
            if rule.outcome != "stopped":
                return rule.outcome, rule.line
            return OUTCOME, rule.line
    return OUTCOME, 0


# ------------------------------------------------------------------ hard bounces

def normalize(address: Any) -> str | None:
    """The list's key: `Ana <Ana@X.com>` and ` ana@x.com` are one address.
    None for what is no address (a mailbox or a number): a stray display name."""
    text = str(address).strip() if address is not None else ""
    if "<" in text:
        text = parseaddr(text)[1] or text
    if "@" not in text and not any(c.isdigit() for c in text):
        return None
    return text.lower()


def suppress_bounced_address(engine: EngineHost, e: Event) -> None:
    """A hard bounce: the address its message went to joins the suppression list."""
    if e.contact is None:  # ingest calls it for events with a contact only
        return
    store = engine.store
    contact = store.get_contact(e.contact)
    rec = store.message(e.contact, e.step, e.at) if e.step else None
    addresses = recipients(engine, rec.channel if rec else None, rec.to if rec else None, contact)
    if not addresses:
        engine.note(e.at, "warning", f"hard bounce of {e.contact}: no address to suppress", contact=e.contact)
        return
    for address in addresses:
        if store.address_suppression(address) is None:
            store.suppress_address(address, e.at, f"hard bounce: {describe(e)}", e.contact)
            engine.note(e.at, "suppressed", f"address {address} suppressed: hard bounce ({describe(e)})",
                        contact=e.contact)


def recipients(engine: EngineHost, channel: str | None, to: Any, contact: Contact | None) -> list[str]:
    """The normalized addresses a send goes to: its `to`, else the contact field
    its channel addresses (recipients.recipient decides both)."""
    config = engine.config
    ch = getattr(config, "channels", {}).get(channel or "email") if config is not None else None
    adapter = ch.adapter if ch is not None else ("smtp" if (channel or "email") == "email" else "webhook")
    field = ch.settings.recipient_field if ch is not None else None
    text = recipient(to, contact or Contact("", {}), adapter, field)
    return [a for a in (normalize(addr or name) for name, addr in getaddresses([text or ""])) if a]


def blocked_sends(engine: EngineHost, en: Enrollment, actions: Iterable["Pending"]) -> dict[int, str]:
    """The sends of a segment addressed to a suppressed address: {ordinal: why}."""
    store = engine.store
    if not store.has_suppressed_addresses():
        return {}
    contact = store.get_contact(en.contact)
    out = {}
    for p in actions:
        if p.kind != "send":
            continue
        for address in recipients(engine, p.channel, p.to, contact):
            found = store.address_suppression(address)
            if found is not None:
                out[p.ordinal] = f"send {p.channel} {p.template!r} skipped: {address} is suppressed ({found[1]})"
                break
    return out
