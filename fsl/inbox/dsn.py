"""Delivery status notifications: RFC 3464 reports and the free-form bounces servers still send.

flufl.bounce finds the failed recipients (its detectors know RFC 3464 and a
dozen server dialects).  What it cannot say is why: the kind is read here
from the report's per-recipient `Action:` and `Status:` fields, or from the
status code in the text of a free-form bounce.  `delayed` is a deferral;
`failed` with a 5.x.x status is a hard bounce, with 4.x.x (the server gave up
retrying) a soft one.  A bounce flufl.bounce does not recognise is still a
bounce when it looks like one (the sender is a mailer daemon, the subject
says the message was not delivered): its failed recipient is one of our
addresses that its text names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from .mail import Mail, decode_text

DAEMONS = re.compile(r"^(mailer-daemon|postmaster|post_master|mail-daemon|maildaemon|mailer|mail\.daemon|"
                     r"mail-delivery|mail_delivery|bounce[s]?|mdaemon|smtp|nobody|root)([+.-].*)?(@|$)", re.I)
DAEMON_NAME = re.compile(r"mailer-daemon|postmaster|post_master|mail delivery (system|subsystem)|mail deliver system|"
                         r"mail administrator|e-mail interconnect", re.I)
SUBJECTS = re.compile(
    r"undeliver|undelivered|delivery (status )?notification|delivery (has )?failed|failure notice|"
    r"returned mail|mail delivery (failed|failure|system|subsystem)|delivery failure|non[- ]?delivery|"
    r"could not be delivered|not delivered|delivery problem|warning: could not send|"
    r"nicht zustellbar|unzustellbar|non remis|non distribuable|échec de (la )?remise|no se puede entregar|"
    r"no entregado|não entregue|não foi possível entregar|退信|退回|系统退信|未送達|配信できません|"
    r"delayed mail|delivery delayed|delivery status|mail system error|returned to sender|rejected|"
    r"error sending your (?:mail|message)|error delivering|メールエラー|エラー通知|配信エラー|送信エラー",
    re.I)
_BODY = re.compile(
    r"could not be delivered to|couldn't be delivered|delivery to the following recipients? (?:has )?failed|"
    r"permanent (?:fatal )?errors?|user unknown|invalid (?:user|recipient) address|mailbox (?:is )?(?:full|unavailable)|no such (?:user|recipient)|"
    r"konnte nicht zugestellt werden|n'a pas pu être (?:remis|distribué)|no se pudo entregar|não pôde ser entregue|"
    r"送信できませんでした|配信できませんでした|无法投递|無法投遞|退信", re.I)
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_DEFER_WORDS = re.compile(
    r"will (continue to )?(be )?retr(y|ied)|not yet been delivered|delivery (is |has been )?delayed|"
    r"still trying|temporar(y|ily)|warning: message .* delayed|noch nicht zugestellt|verzögert", re.I)
_WARNING = re.compile(  # a delay warning: the server is still trying (no report `Action:` to say so)
    r"has not yet been delivered|not yet been delivered|will be retried|still being retried|this is a warning only|"
    r"delayed \d+ (?:hours|minutes|days)|delivery (?:has been |is )?delayed|delayed mail|warning: message \S+ delayed|"
    r"noch nicht zugestellt|zustellung verzögert|remise différée|entrega retrasada|entrega atrasada|延迟投递|配信遅延",
    re.I)
_ADDRESS = re.compile(r"[A-Za-z0-9._%+'=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Failure:
    address: str  # lower case
    event: str  # bounced | deferred
    kind: str | None  # hard | soft for bounced
    status: str | None  # the X.Y.Z status code when one was given
    evidence: tuple[str, ...]


def is_report(msg: Message) -> bool:
    report = msg.get_param("report-type")
    return msg.get_content_type() == "multipart/report" and isinstance(report, str) and report.lower() == "delivery-status"


def looks_like_bounce(mail: Mail) -> list[str]:
    """Evidence that a message is a non-delivery notice ([] when it is not)."""
    evidence: list[str] = []
    if is_report(mail.message):
        evidence.append("Content-Type: multipart/report; report-type=delivery-status")
    sender = decode_text(mail.message.get("From"))
    if (mail.sender and DAEMONS.match(mail.sender)) or DAEMON_NAME.search(sender):
        evidence.append(f"From: {mail.sender or sender.strip()[:60]}")
    return_path = decode_text(mail.message.get("Return-Path")).strip()
    if return_path in ("<>", ""):
        if mail.message.get("Return-Path") is not None:
            evidence.append("Return-Path: <>")
    found = SUBJECTS.search(mail.subject)
    if found:
        evidence.append(f"Subject: {found.group(0)!r}")
    said = _BODY.search(_scan_text(mail)[:5000])
    if said:
        evidence.append(f"text: {said.group(0)!r}")
    if evidence and any(p.get_content_type() in ("message/rfc822", "text/rfc822-headers") for p in mail.message.walk()):
        evidence.append("carries the original message")
    return evidence


def failures(mail: Mail, ours: frozenset[str] = frozenset()) -> list[Failure]:
    """The failed recipients a bounce names, with their kind; [] when it is no bounce.

    `ours`: addresses we wrote to (lower case), used to find the recipient in a
    free-form bounce no detector understands."""
    evidence = looks_like_bounce(mail)
    if not evidence:
        return []  # flufl.bounce's heuristics run only on what looks like a bounce: they are slow on big mail
    try:
        temporary, permanent = all_failures(mail.message)
    except Exception:  # noqa: BLE001 - a detector tripping on a malformed bounce must not stop the read
        temporary, permanent = frozenset(), frozenset()
    fields = _report_fields(mail.message) or _report_in_text(_scan_text(mail))
    warning = _WARNING.search(mail.subject + "\n" + mail.text[:5000])
    if warning:
        evidence.append(f"delay warning: {warning.group(0)!r}")
    found: dict[str, Failure] = {}
    for raw, temp in [(a, False) for a in permanent] + [(a, True) for a in temporary]:
        address = _text(raw).strip().strip("<>").lower()
        if "@" not in address or address in found:
            continue
        found[address] = _kind(address, temp or bool(warning), fields.get(address), mail,
                               ["flufl.bounce: " + ("temporary" if temp else "permanent"), *evidence])
    if not found and fields:
        for address, block in fields.items():
            found[address] = _kind(address, block.get("action") == "delayed", block, mail, ["RFC 3464 report", *evidence])
    if not found and _strong(evidence):
        for address in _named(mail, ours):
            found[address] = _kind(address, bool(warning) or (bool(_DEFER_WORDS.search(mail.text))
                                                               and not _permanent_code(mail.text)), None, mail, evidence)
    if not found:
        return []
    return list(found.values())


def _strong(evidence: list[str]) -> bool:
    # a report, or a daemon's sender together with a bounce subject or an empty Return-Path
    if any(e.startswith("text:") for e in evidence) and any(e.startswith("carries") for e in evidence):
        return True
    return any(e.startswith("Content-Type") for e in evidence) or len(evidence) >= 3 or (
        any(e.startswith("From:") for e in evidence) and len(evidence) >= 2) or (
        any(e.startswith("Subject:") for e in evidence) and any(e.startswith("Return-Path") for e in evidence))


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _permanent_code(text: str) -> bool:
    return any(m.group(1) == "5" for m in _STATUS.finditer(text))


def _kind(address: str, temporary: bool, block: dict[str, str] | None, mail: Mail, why: list[str]) -> Failure:
    evidence = list(why)
    status = None
    action = None
    if block:
        action = block.get("action")
        code = _STATUS.search(block.get("status", ""))
        status = code.group(0) if code else None
        if action:
            evidence.append(f"Action: {action}")
        if status:
            evidence.append(f"Status: {status}")
    if status is None:
        codes = [m.group(0) for m in _STATUS.finditer(mail.text) if m.group(1) in "45"]
        if codes:
            status = next((c for c in codes if c.startswith("5")), codes[0])
            evidence.append(f"status {status} in the text")
    if action == "delayed" or (action is None and temporary):
        return Failure(address, "deferred", None, status, tuple(evidence))
    kind = "soft" if status is not None and status.startswith("4") else "hard"
    return Failure(address, "bounced", kind, status, tuple(evidence))


def _report_fields(msg: Message) -> dict[str, dict[str, str]]:
    """Per-recipient fields of a message/delivery-status part: address -> {action, status}."""
    result: dict[str, dict[str, str]] = {}
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks:
            if not isinstance(block, Message):
                continue
            recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
            if recipient is None:
                continue
            address = _text(recipient).partition(";")[2].strip().strip("<>").lower() or _text(recipient).strip().lower()
            if "@" not in address:
                continue
            result[address] = {"action": _text(block.get("Action", "")).strip().lower(),
                               "status": _text(block.get("Status", "")).strip()}
    return result


def _scan_text(mail: Mail) -> str:
    """The text to search: the message's own text and, when its MIME structure did not parse
    (a multipart without a usable boundary), its whole body."""
    broken = [p.get_payload() for p in mail.message.walk() if p.get_content_maintype() == "multipart"]
    return "\n".join([mail.text, *(b[:200_000] for b in broken if isinstance(b, str))])


_FIELD_BLOCK = re.compile(r"^Final-Recipient:\s*(?:rfc822;)?\s*<?(?P<a>[^\s<>;]+@[^\s<>;]+)>?\s*$(?P<rest>(?:\n(?!Final-Recipient).*){0,12})",
                          re.I | re.M)


def _report_in_text(text: str) -> dict[str, dict[str, str]]:
    """Per-recipient fields of a delivery-status block found in text (a report whose MIME broke)."""
    result: dict[str, dict[str, str]] = {}
    for found in _FIELD_BLOCK.finditer(text.replace("\r\n", "\n")):
        rest = found.group("rest")
        action = re.search(r"^Action:\s*(\S+)", rest, re.I | re.M)
        status = re.search(r"^Status:\s*(\S+)", rest, re.I | re.M)
        result[found.group("a").lower()] = {"action": action.group(1).lower() if action else "",
                                            "status": status.group(1) if status else ""}
    return result


def _named(mail: Mail, ours: frozenset[str]) -> list[str]:
    """The failed recipient of a free-form bounce: our addresses its text names; else the To of
    the original it carries; else the addresses in its text other than the daemon's."""
    text = _scan_text(mail) + "\n" + _carried_headers(mail.message)
    named = [a.lower() for a in _ADDRESS.findall(text)]
    if ours:
        hits = [a for a in dict.fromkeys(named) if a in ours]
        if hits:
            return hits
    original = _original_to(mail.message)
    if original:
        return original
    skip = {mail.sender, *mail.to}
    return [a for a in dict.fromkeys(named) if a not in skip and not DAEMONS.match(a)][:1]


def _carried_headers(msg: Message) -> str:
    out = []
    for part in msg.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822-headers"):
            try:
                payload = part.get_payload(decode=True)
            except Exception:  # noqa: BLE001 - a broken part names no one
                continue
            if isinstance(payload, bytes):
                out.append(payload[:20000].decode("utf-8", "replace"))
    return "\n".join(out)


def _original_to(msg: Message) -> list[str]:
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                to = inner[0].get_all("To") or []
                return [a.lower() for _, a in getaddresses([decode_text(v) for v in to]) if "@" in a]
    return []

