"""Inbound-parse webhooks: received mail posted by SendGrid, Mailgun or Postmark, as the raw
message the inbox's classifier reads (SIGNALS.md 3; fsl/web/inbound.py serves them).

- SendGrid Inbound Parse: multipart/form-data; with "POST the raw, full MIME
  message" on, the message is the field `email`; otherwise it is rebuilt from
  `headers`, `text`, `html` and `attachment1..N`.
- Mailgun routes: `forward()` to a URL ending in `mime` (or store() and
  notify) posts the message as `body-mime`; otherwise it is rebuilt from
  `message-headers`, `body-plain`, `body-html`.  Signed: `timestamp`,
  `token`, `signature` fields, HMAC-SHA256 with the webhook signing key.
- Postmark inbound: JSON; `RawEmail` when "include raw email content" is on,
  otherwise rebuilt from `Headers`, `From`, `To`, `Cc`, `Subject`, `Date`,
  `TextBody`, `HtmlBody` and `Attachments`.

A rebuilt message keeps the headers the classifier and matcher read
(Message-ID, In-Reply-To, References, Auto-Submitted, ...) and the parts that
carry a bounce's original (message/rfc822, text/rfc822-headers).  A piece of
the payload that cannot be used (an attachment in bad base64) is reported in
`problems`; the rest is still read.
"""
from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any, Mapping
from urllib.parse import parse_qsl

from .providers.common import BadSignature, check_fresh

PROVIDERS = ("sendgrid", "mailgun", "postmark")
_BODY_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version", "content-disposition"})


class BadPayload(Exception):
    """The body holds no message: the HTTP status and a reason safe to show."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Inbound:
    raw: bytes  # the message, as the inbox would have fetched it
    rebuilt: bool  # True when made from the provider's parsed fields, not its raw MIME
    problems: list[str] = field(default_factory=list)  # parts of the payload not used, and why


def form_fields(body: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a multipart/form-data or urlencoded body (the first of a repeated name)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise BadPayload(400, "the form is not UTF-8") from None
        out: dict[str, bytes] = {}
        for name, value in pairs:
            out.setdefault(name, value.encode("utf-8"))
        return out
    if kind != "multipart/form-data" or "boundary=" not in content_type:
        raise BadPayload(415, "expected multipart/form-data (or application/x-www-form-urlencoded)")
    # A form is a MIME multipart: the stdlib's parser reads it, each value kept as its bytes.
    form = email.message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace") + body,
                                    policy=email.policy.compat32)
    parts = form.get_payload()
    if not isinstance(parts, list):
        raise BadPayload(400, "the form has no parts (a wrong boundary?)")
    fields: dict[str, bytes] = {}
    for part in parts:
        if not isinstance(part, Message):
            continue
        named = part.get_param("name", header="content-disposition")
        if not isinstance(named, str) or named in fields:
            continue
        fields[named] = _bytes_of(part)
    return fields


def _bytes_of(part: Message) -> bytes:
    if part.is_multipart():  # a field sent as message/rfc822: parsed by the form parser, written back
        inner = part.get_payload(0)
        return inner.as_bytes() if isinstance(inner, Message) else b""
    value = part.get_payload(decode=True)
    return value if isinstance(value, bytes) else b""


def _text(value: bytes | None, charset: str = "utf-8") -> str:
    if not value:
        return ""
    try:
        return value.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return value.decode("utf-8", "replace")


# ---------------------------------------------------------------- SendGrid

def sendgrid(fields: Mapping[str, bytes]) -> Inbound:
    if fields.get("email"):
        return Inbound(fields["email"], False)
    if "headers" not in fields:
        raise BadPayload(400, "no `email` (raw MIME) and no `headers` field: not an Inbound Parse post")
    try:
        charsets = json.loads(_text(fields.get("charsets")) or "{}")
    except json.JSONDecodeError:
        charsets = {}
    charsets = charsets if isinstance(charsets, dict) else {}
    head = _header_pairs(_text(fields["headers"], str(charsets.get("headers") or "utf-8")))
    problems: list[str] = []
    attachments = []
    try:
        info = json.loads(_text(fields.get("attachment-info")) or "{}")
    except json.JSONDecodeError:
        info = {}
    for name in sorted((n for n in fields if n.startswith("attachment") and n[10:].isdigit()), key=lambda n: int(n[10:])):
        meta = info.get(name) if isinstance(info, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        attachments.append((str(meta.get("filename") or name), str(meta.get("type") or "application/octet-stream"),
                            fields[name]))
    raw = compose(head, _text(fields.get("text"), str(charsets.get("text") or "utf-8")),
                  _text(fields.get("html"), str(charsets.get("html") or "utf-8")), attachments, problems)
    return Inbound(raw, True, problems)


def _header_pairs(block: str) -> list[tuple[str, str]]:
    parsed = email.message_from_string(block.strip() + "\n\n", policy=email.policy.compat32)
    return [(k, str(v)) for k, v in parsed.items()]


# ---------------------------------------------------------------- Mailgun

def mailgun_verify(fields: Mapping[str, bytes], settings: Mapping[str, Any] | None, now: datetime) -> None:
    """The route's signature (timestamp, token, signature) with the signing key; raises BadPayload 401."""
    key = (settings or {}).get("signing_key")
    if not isinstance(key, str) or not key:
        raise BadPayload(401, "webhooks.mailgun.signing_key is not configured")
    stamp, token, given = (_text(fields.get(n)).strip() for n in ("timestamp", "token", "signature"))
    if not (stamp and token and given):
        raise BadPayload(401, "no signature: `timestamp`, `token` and `signature` are required")
    want = hmac.new(key.encode("utf-8"), (stamp + token).encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, given.lower()):
        raise BadPayload(401, "the signature does not match")
    try:
        check_fresh(stamp, now, settings or {})
    except BadSignature as why:
        raise BadPayload(401, str(why)) from None


def mailgun(fields: Mapping[str, bytes]) -> Inbound:
    if fields.get("body-mime"):
        return Inbound(fields["body-mime"], False)
    if "message-headers" not in fields:
        raise BadPayload(400, "no `body-mime` and no `message-headers` field: not a Mailgun route post")
    try:
        pairs = json.loads(_text(fields["message-headers"]))
        head = [(str(k), str(v)) for k, v in pairs]
    except (json.JSONDecodeError, TypeError, ValueError):
        raise BadPayload(400, "`message-headers` is not a JSON list of [name, value] pairs") from None
    problems: list[str] = []
    attachments = [(name, "application/octet-stream", value) for name, value in fields.items()
                   if name.startswith("attachment-") and name[11:].isdigit()]
    raw = compose(head, _text(fields.get("body-plain")), _text(fields.get("body-html")), attachments, problems)
    return Inbound(raw, True, problems)


# ---------------------------------------------------------------- Postmark

def postmark(body: bytes) -> Inbound:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadPayload(400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadPayload(400, "the body is not a JSON object")
    if isinstance(data.get("RawEmail"), str) and data["RawEmail"]:
        return Inbound(data["RawEmail"].encode("utf-8", "surrogateescape"), False)
    if not any(k in data for k in ("Headers", "From", "TextBody", "HtmlBody")):
        raise BadPayload(400, "no `RawEmail`, `Headers`, `From` or body: not a Postmark inbound message")
    problems: list[str] = []
    head: list[tuple[str, str]] = []
    for i, item in enumerate(data.get("Headers") or []):
        if isinstance(item, dict) and isinstance(item.get("Name"), str) and isinstance(item.get("Value"), str):
            head.append((item["Name"], item["Value"]))
        else:
            problems.append(f"Headers[{i}]: not a {{Name, Value}} object; left out")
    have = {k.lower() for k, _ in head}
    for name, key in (("From", "From"), ("To", "To"), ("Cc", "Cc"), ("Subject", "Subject"), ("Date", "Date")):
        if name.lower() not in have and isinstance(data.get(key), str) and data[key]:
            head.append((name, data[key]))
    attachments = []
    for i, item in enumerate(data.get("Attachments") or []):
        try:
            content = base64.b64decode(str(item["Content"]), validate=True)
            attachments.append((str(item.get("Name") or f"attachment{i + 1}"),
                                str(item.get("ContentType") or "application/octet-stream"), content))
        except (KeyError, TypeError, binascii.Error, ValueError):
            problems.append(f"Attachments[{i}]: no base64 `Content`; left out")
    raw = compose(head, str(data.get("TextBody") or ""), str(data.get("HtmlBody") or ""), attachments, problems)
    return Inbound(raw, True, problems)


# ---------------------------------------------------------------- rebuilding a message

def compose(headers: list[tuple[str, str]], text: str, html: str,
            attachments: list[tuple[str, str, bytes]], problems: list[str]) -> bytes:
    """A message from a provider's parsed fields: its headers (less the body's own), the text
    and HTML bodies, and the attachments (a bounce's original as message/rfc822 is kept as one)."""
    msg = Message()
    for name, value in headers:
        if name.lower() in _BODY_HEADERS:
            continue  # the rebuilt message's body is not the original's
        msg[name] = value.replace("\r", " ").replace("\n", " ")
    msg["MIME-Version"] = "1.0"
    bodies = [("plain", text)] if text or not html else []
    if html:
        bodies.append(("html", html))
    if not attachments and len(bodies) == 1:
        msg.set_payload(bodies[0][1], "utf-8")
        msg.set_type(f"text/{bodies[0][0]}")
        return msg.as_bytes()
    outer = Message()
    outer.set_type("multipart/mixed")
    for sub, words in bodies:
        part = Message()
        part.set_payload(words, "utf-8")
        part.set_type(f"text/{sub}")
        outer.attach(part)
    for name, kind, content in attachments:
        if kind.lower() in ("message/rfc822", "text/rfc822-headers", "message/delivery-status"):
            inner = email.message_from_bytes(content, policy=email.policy.compat32)
            part = Message()
            part.set_type(kind.lower())
            if kind.lower() == "message/rfc822":
                part.attach(inner)
            else:
                part.set_payload(content.decode("utf-8", "replace"))
        else:
            part = Message()
            part.set_type(kind if "/" in kind else "application/octet-stream")
            part.set_payload(base64.encodebytes(content).decode("ascii"))
            part["Content-Transfer-Encoding"] = "base64"
            part.add_header("Content-Disposition", "attachment", filename=name)
        outer.attach(part)
    for name, value in msg.items():
        if name.lower() != "content-type":
            outer[name] = value
    return outer.as_bytes()
