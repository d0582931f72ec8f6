"""Which sent message (or contact) a message in the inbox answers (SIGNALS.md 3).

1. `In-Reply-To`/`References` (for a bounce: the Message-ID of the original
   it carries) against the Message-IDs the outbox stored at hand-over
   (`actions.message_id`, indexed by that lookup's exact match).  The
   Message-ID is an opaque hash of the idempotency key on purpose (its step
   names are not for recipients' eyes), so the key is found by this lookup,
   not read back from the id.
2. The sender's address is a contact's and the subject without reply
   prefixes equals the subject of a message sent to that contact in the
   last 30 days (re-rendered from its template and stored variables).
3. The address alone: the contact, with no step (the event concerns all of
   the contact's enrollments).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.store import email_keys
from fsl.store.codec import epoch, instant, loads
from fsl.store.email_keys import email_key
from fsl.store.members import one_of
from fsl.store.schema import actions, contacts
from fsl.store.sent import references, sends_by_message_id

from .mail import Mail, decode_text

SUBJECT_WINDOW = timedelta(days=30)
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|antwort|wg|fw|fwd|tr|rv|enc|r|ref|rif|odp|ynt|res|回复|回覆|答复|答覆|转发|轉寄|返信|転送)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.I)


@dataclass(frozen=True)
class Target:
    contact: str
    step: str | None  # None: a contact-level event
    enrollment: int | None
    sent_at: datetime | None  # when the answered message was handed over
    recipients: frozenset[str]  # the address(es) it went to
    evidence: str
    zone: str | None = None  # the contact's `timezone` field, when it has one


def bare_subject(subject: str) -> str:
    """A subject without reply and forward prefixes (Re:, AW:, RE:, 回复:, 答复:, Fwd: ...), spaces folded."""
    return re.sub(r"\s+", " ", _PREFIX.sub("", subject or "")).strip().casefold()


def address_of(value: Any) -> str | None:
    """An address as matching compares it (the one definition is the store's: email_keys)."""
    return email_key(value)


def carried_ids(mail: Mail) -> list[str]:
    """Message-IDs of the original a bounce carries (message/rfc822 or text/rfc822-headers)."""
    found: list[str] = []
    for part in mail.message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and hasattr(inner[0], "get"):
                found += re.findall(r"<[^<>\s]+>", decode_text(inner[0].get("Message-ID")))
        elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
            try:
                payload = part.get_payload(decode=True)
            except Exception:  # noqa: BLE001 - a broken part carries no id
                continue
            if isinstance(payload, bytes):
                head = payload[:20000].decode("utf-8", "replace")
                found += re.findall(r"(?im)^message-id:\s*(<[^<>\s]+>)", head)
    return found


def ids_named(mail: Mail) -> list[str]:
    """The Message-IDs a message answers: In-Reply-To, References, then those of the original a
    bounce carries."""
    return mail.in_reply_to + carried_ids(mail)


class Matcher:
    """Matching against one store, in one read transaction (a FETCH batch's): what it reads of
    sends and contacts is kept for the batch, and `prefetch` finds the sends every message of
    the batch names in one query.  `renderer(action row) -> subject or None` re-renders a
    send's subject."""

    def __init__(self, conn: Connection, renderer: Any = None) -> None:
        self.conn = conn
        self.renderer = renderer
        self._sends: dict[str, list[Any]] = {}  # Message-ID -> its send rows (none: [])
        self._contact_info: dict[str, tuple[frozenset[str], str | None]] = {}
        self._contacts_of: dict[str, list[str]] = {}

    def prefetch(self, mails: list[Mail]) -> None:
        """Read at once the sends that any of `mails` names (In-Reply-To, References, the
        original a bounce carries), and their contacts."""
        wanted = {i for mail in mails for i in ids_named(mail)} - self._sends.keys()
        self._load_sends(sorted(wanted))
        self._load_contacts(sorted({r["contact"] for rows in self._sends.values() for r in rows}
                                   - self._contact_info.keys()))

    def _load_sends(self, ids: list[str]) -> None:
        """The sends of the Message-IDs `ids` (as the mail gives them), found through the
        enrollment each of ours names (fsl.store.sent): ids not ours cost no query."""
        for i in ids:
            self._sends.setdefault(i, [])
        ours = references(ids)  # as given -> as stored
        if not ours:
            return
        a = actions.c
        found: dict[str, list[Any]] = {}
        for row in sends_by_message_id(self.conn, list(ours),
                                       (a.key, a.enrollment, a.contact, a.step, a.delivered_at, a.at)):
            found.setdefault(row["message_id"], []).append(row)
        for given, stored in ours.items():
            self._sends[given] = found.get(stored, [])

    def _load_contacts(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for i in chunk:
                self._contact_info[i] = (frozenset(), None)
            for contact_id, text in self.conn.execute(sa.select(contacts.c.id, contacts.c.fields)
                                                      .where(one_of(self.conn, contacts.c.id, chunk))):
                fields = loads(text) or {}
                addr = address_of(fields.get(email_keys.FIELD))
                zone = fields.get("timezone")
                self._contact_info[contact_id] = ((frozenset({addr}) if addr else frozenset()),
                                                  (zone if isinstance(zone, str) and zone else None))

    def by_ids(self, ids: list[str]) -> Target | None:
        ids = [i for i in dict.fromkeys(ids) if len(i) <= 300]
        if not ids:
            return None
        self._load_sends([i for i in ids if i not in self._sends])
        rows = [r for i in ids for r in self._sends[i]]
        if not rows:
            return None
        row = rows[0]  # In-Reply-To first, then References
        sent = row["delivered_at"] if row["delivered_at"] is not None else row["at"]
        recipients, zone = self.contact_info(row["contact"])
        return Target(row["contact"], row["step"], row["enrollment"], instant(sent), recipients,
                      f"{row['message_id']} is the message of step {row['step']} ({row['key']})", zone)

    def contact_info(self, contact: str) -> tuple[frozenset[str], str | None]:
        """The contact's address (as a set) and time zone, from one read of its fields."""
        if contact not in self._contact_info:
            self._load_contacts([contact])
        return self._contact_info[contact]

    def contacts_of(self, address: str) -> list[str]:
        """Contacts whose address field is `address` (case-insensitive; `Name <addr>` too): an
        indexed lookup of contacts.email_key, which every write of a contact keeps in step."""
        if address not in self._contacts_of:
            self._contacts_of[address] = email_keys.contacts_of(self.conn, address)
        return self._contacts_of[address]

    def by_subject(self, who: list[str], subject: str, now: datetime) -> Target | None:
        wanted = bare_subject(subject)
        if not wanted or not who or self.renderer is None:
            return None
        a = actions.c
        rows = self.conn.execute(sa.select(actions).where(
            a.contact.in_(who), a.kind == "send", a.status == "delivered",
            a.delivered_at >= epoch(now - SUBJECT_WINDOW)).order_by(a.delivered_at.desc())).mappings().all()
        for row in rows:
            sent_subject = self.renderer(row)
            if sent_subject and bare_subject(sent_subject) == wanted:
                recipients, zone = self.contact_info(row["contact"])
                return Target(row["contact"], row["step"], row["enrollment"], instant(row["delivered_at"]), recipients,
                              f"subject {subject!r} is that of step {row['step']} sent {instant(row['delivered_at']).date()}",
                              zone)
        return None

    def match(self, mail: Mail, now: datetime, failed: list[str] | None = None) -> Target | None:
        """The target of a reply (or, with `failed`, of a bounce for those addresses)."""
        found = self.by_ids(ids_named(mail))
        if found is not None:
            return found
        addresses = failed if failed is not None else ([mail.sender] if mail.sender else [])
        for address in addresses:
            who = self.contacts_of(address)
            if not who:
                continue
            if failed is None:
                by_subject = self.by_subject(who, mail.subject, now)
                if by_subject is not None:
                    return by_subject
            return Target(who[0], None, None, None, frozenset({address}),
                          f"{address} is the address of contact {who[0]}" + (f" (and {len(who) - 1} more)" if len(who) > 1 else ""),
                          self.contact_info(who[0])[1])
        return None
