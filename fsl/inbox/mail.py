"""One message from the inbox, read defensively into the few things the inbox needs.

Mail in a reply mailbox is whatever the world sends: malformed MIME, charsets
that lie, 20 MB attachments, HTML only, TNEF, bounces that carry the original
as message/rfc822, encoded words that decode to nonsense.  `read_mail` never
raises: a part it cannot decode is skipped (and said so in `problems`), a
header it cannot decode is kept as the raw text.  Attachments are never
decoded, but for Outlook's winmail.dat (TNEF, tnef.py): its text is the
message's when the message has no other, and the names of the files in it
are noted.  The text of a message is its own text parts, never those of a
message it carries (a bounce's original, a forwarded mail).
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import Header, decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from .htmltext import html_to_text
from .tnef import is_tnef, read_tnef

MAX_TEXT = 200_000  # characters of text kept per message: replies are short, quoted history is not needed
MAX_PART = 2_000_000  # bytes of one text part decoded; a larger "text" part is an attachment in disguise


@dataclass
class Mail:
    raw_size: int
    message: Message  # the parsed message (compat32: what flufl.bounce reads)
    message_id: str | None  # `<...>` or None
    content_hash: str  # sha256 of the raw bytes: the dedup key of a message without a Message-ID
    sender: str  # the From address, lower case ('' when none)
    sender_name: str
    to: list[str]
    cc: list[str]
    subject: str
    date: datetime | None  # the Date header, UTC; None when missing or unreadable
    in_reply_to: list[str]  # Message-IDs from In-Reply-To then References, `<...>`
    text: str  # the message's own text (plain, or HTML reduced to text, or a winmail.dat's)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the classification's evidence should say of
    #                                                 its text's origin (a winmail.dat, its attachments)

    def header(self, name: str) -> str:
        """A header decoded to text ('' when absent)."""
        return decode_text(self.message.get(name))

    @property
    def dedup(self) -> str:
        return f"inbox:{self.message_id}" if self.message_id else f"inbox:sha256:{self.content_hash}"


def read_mail(raw: bytes) -> Mail:
    problems: list[str] = []
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception as exc:  # noqa: BLE001 - the stdlib parser is lenient, but a mailbox holds anything
        problems.append(f"unparsable message: {type(exc).__name__}")
        msg = email.message_from_bytes(b"\r\n\r\n" + raw[:MAX_PART], policy=email.policy.compat32)
    sender_name, sender = _first_address(msg.get_all("From") or [])
    notes: list[str] = []
    text = body_text(msg, problems)
    # a winmail.dat's text is the message's only when it has no other; its attachments are listed anyway
    text = tnef_text(msg, notes, wanted=not text.strip()) or text
    return Mail(
        raw_size=len(raw), message=msg,
        message_id=_ids(msg.get("Message-ID"))[0] if _ids(msg.get("Message-ID")) else None,
        content_hash=hashlib.sha256(raw).hexdigest()[:40],
        sender=sender, sender_name=sender_name,
        to=_addresses(msg.get_all("To") or []), cc=_addresses(msg.get_all("Cc") or []),
        subject=decode_text(msg.get("Subject")).strip(),
        date=_date(msg.get("Date")),
        in_reply_to=_ids(msg.get("In-Reply-To")) + _ids(msg.get("References")),
        text=text,
        problems=problems,
        notes=notes,
    )


def decode_text(value: object) -> str:
    """A header value with its encoded words decoded; undecodable words kept as written."""
    if value is None:
        return ""
    if isinstance(value, Header):  # the parser's wrapper of raw 8-bit header bytes
        try:
            value = b"".join(b if isinstance(b, bytes) else b.encode("utf-8", "surrogateescape")
                             for b, _ in decode_header(value)).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - keep whatever str() makes of it
            value = str(value)
    text = _eight_bit(str(value))
    if "=?" not in text:
        return _unfold(text)
    try:
        return _unfold(str(make_header(decode_header(text))))
    except Exception:  # noqa: BLE001 - a bad charset name or a broken encoded word: keep the raw text
        return _unfold(text)


def _eight_bit(text: str) -> str:
    """Raw 8-bit header bytes (UTF-8 sent without encoded words) come back from the parser as
    surrogate escapes: read them as UTF-8."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", text).replace("\r", "").replace("\n", " ")


_ID = re.compile(r"<[^<>\s]+>")


def _ids(value: object) -> list[str]:
    if value is None:
        return []
    text = str(value)
    found = _ID.findall(text)
    if not found and text.strip() and " " not in text.strip():
        found = [f"<{text.strip().strip('<>')}>"]  # some clients drop the brackets
    return found


def _addresses(values: list) -> list[str]:
    try:
        pairs = getaddresses([decode_text(v) for v in values])
    except Exception:  # noqa: BLE001 - a header the address parser chokes on names nobody
        return []
    return [addr.strip().lower() for _, addr in pairs if "@" in addr]


def _first_address(values: list) -> tuple[str, str]:
    try:
        pairs = getaddresses([decode_text(v) for v in values])
    except Exception:  # noqa: BLE001 - as in _addresses
        return "", ""
    for name, addr in pairs:
        if "@" in addr:
            return name, addr.strip().lower()
    return "", ""


def _date(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        at = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    try:
        return at.astimezone(timezone.utc).replace(microsecond=0)
    except (OverflowError, ValueError):
        return None


def body_text(msg: Message, problems: list[str]) -> str:
    """The message's own text: its text/plain parts, else its text/html parts reduced to text.

    Does not descend into message/* parts (a bounce's original, a forwarded
    message) nor into attachments."""
    plain: list[str] = []
    rich: list[str] = []
    for part in _own_parts(msg):
        kind = (part.get_content_type().split() or [""])[0]  # a broken header: "text/plain\n charset=..."
        if kind not in ("text/plain", "text/html"):
            continue
        if (part.get("Content-Disposition") or "").strip().lower().startswith("attachment"):
            continue
        text = _decode_part(part, problems)
        if text is None:
            continue
        (plain if kind == "text/plain" else rich).append(text)
    text = "\n".join(plain) if any(p.strip() for p in plain) else "\n".join(html_to_text(h) for h in rich)
    return text[:MAX_TEXT]


def tnef_text(msg: Message, notes: list[str], wanted: bool = True) -> str:
    """The text of the message's own winmail.dat parts (TNEF) when `wanted`; what they hold, or
    why they could not be read, is said in `notes`."""
    texts: list[str] = []
    for part in _own_parts(msg):
        kind = (part.get_content_type().split() or [""])[0]
        try:
            filename = part.get_filename()
        except Exception:  # noqa: BLE001 - a filename in a broken encoding: the type alone decides
            filename = None
        if not is_tnef(kind, filename):
            continue
        name = filename or "winmail.dat"
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # noqa: BLE001 - broken base64: nothing to read, said so
            payload = None
        if not isinstance(payload, bytes) or not payload:
            notes.append(f"{name} (TNEF) is empty or undecodable; classified from the rest of the message")
            continue
        found = read_tnef(payload)
        said = f"{name} (TNEF)"
        if found.text.strip() and wanted:
            texts.append(found.text)
            said += f": text read from its {found.source} body"
        elif not found.text.strip() and not found.problem:
            said += ": no text in it"
        if found.attachments:
            said += f"{';' if ':' in said else ':'} attachments: {', '.join(found.attachments)}"
        if found.problem:
            said += f"{';' if ':' in said else ':'} {found.problem}"
            if not found.text.strip() and wanted:
                said += "; classified from the rest of the message"
        notes.append(said)
    return "\n".join(texts)[:MAX_TEXT]


def _own_parts(msg: Message):
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.is_multipart():
            if part.get_content_maintype() == "message":
                continue  # message/rfc822, message/delivery-status: not this message's own text
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
            continue
        if part is not msg and part.get_content_maintype() == "message":
            continue
        yield part


def _decode_part(part: Message, problems: list[str]) -> str | None:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken base64/quoted-printable: the part is skipped, the rest read
        problems.append(f"undecodable {part.get_content_type()} part")
        return None
    if not isinstance(payload, bytes) or len(payload) > MAX_PART:
        return None
    charset = part.get_content_charset() or "utf-8"
    for candidate in (charset, "utf-8", "cp1252"):
        try:
            return payload.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    problems.append(f"text in an unknown charset {charset!r}, read as latin-1")
    return payload.decode("latin-1")
