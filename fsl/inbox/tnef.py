"""Outlook's winmail.dat (application/ms-tnef): the text and attachment names inside it.

Outlook and Exchange, set to "Rich Text", send a reply whose only body is a
TNEF blob; its text is then the MAPI plain body, the HTML body or the
compressed RTF body inside.  tnefparse reads the container, compressed_rtf
inflates the RTF and striprtf reduces it to text (HTML encapsulated in RTF,
`\\fromhtml1`, comes out as its text too).  Nothing here raises: a blob
that is not TNEF, is cut short or lies about its lengths gives a `problem`
instead, and the message is classified from the rest of it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .htmltext import html_to_text

MAX_TNEF = 25_000_000  # bytes of one winmail.dat decoded; its attachments are never decoded further
MAX_RTF = 2_000_000  # bytes of inflated RTF reduced to text: a reply's text is short
TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


@dataclass(frozen=True)
class TnefContent:
    text: str  # the message text inside ('' when none could be read)
    source: str  # where it came from: 'body', 'html', 'rtf', or '' with no text
    attachments: tuple[str, ...]  # the names of the files inside
    problem: str | None = None  # why nothing (or only part) could be read


def is_tnef(content_type: str, filename: str | None) -> bool:
    return content_type in TYPES or (filename or "").strip().lower() == "winmail.dat"


def read_tnef(data: bytes) -> TnefContent:
    """The text and attachment names of a TNEF blob; never raises."""
    if len(data) > MAX_TNEF:
        return TnefContent("", "", (), f"{len(data)} bytes, over the {MAX_TNEF} read")
    from tnefparse import TNEF

    logging.getLogger("tnefparse").setLevel(logging.ERROR)  # its warnings name bytes, not our reader's problem
    try:
        parsed = TNEF(data, do_checksum=True)
    except Exception as exc:  # noqa: BLE001 - tnefparse raises whatever a short or lying blob makes it hit
        return TnefContent("", "", (), f"unreadable TNEF ({type(exc).__name__}: {str(exc)[:120]})")
    names = tuple(_names(parsed))
    problems: list[str] = []
    # A failed checksum is a cut-short or damaged attribute (or a sloppy writer): what reads is kept, and said.
    bad = sum(not getattr(o, "good_checksum", True) for o in parsed.objects)
    if bad:
        problems.append(f"{bad} of its {len(parsed.objects)} attributes fail their checksum (cut short or damaged)")
    left = len(data) - 6 - sum(o.length for o in parsed.objects)  # 6: the signature and key
    if not parsed.objects:
        problems.append("no TNEF attribute in it (cut short?)")
    elif left > 0:
        problems.append(f"its last {left} bytes are no TNEF attribute (cut short, or trailing bytes)")
    for source, read in (("plain", _plain), ("HTML", _html), ("RTF", _rtf)):
        try:
            text = read(parsed)
        except Exception as exc:  # noqa: BLE001 - one unreadable body: try the next form
            problems.append(f"its {source} body is unreadable ({type(exc).__name__})")
            continue
        if text.strip():
            return TnefContent(text, source, names, "; ".join(problems) or None)
    return TnefContent("", "", names, "; ".join(problems) or None)


def _names(parsed) -> list[str]:
    out = []
    for attachment in parsed.attachments:
        try:
            name = attachment.long_filename()
        except Exception:  # noqa: BLE001 - a name in a broken codepage: listed without it
            name = None
        out.append(str(name or "unnamed attachment").strip("\x00")[:200])
    return out


def _decoded(value: object, charset: str = "utf-8") -> str:
    if isinstance(value, bytes):
        for candidate in (charset, "cp1252"):
            try:
                return value.decode(candidate)
            except (LookupError, UnicodeDecodeError):
                continue
        return value.decode("latin-1")
    return value if isinstance(value, str) else ""


def _plain(parsed) -> str:
    return _decoded(parsed.body).replace("\x00", "").replace("\u200b", "")


def _html(parsed) -> str:
    return html_to_text(_decoded(parsed.htmlbody))


_CODEPAGE = re.compile(rb"\\ansicpg(\d+)")


def _rtf(parsed) -> str:
    rtf = parsed.rtfbody  # inflated by compressed_rtf; None without an RTF body
    if rtf is None:
        return ""
    if not isinstance(rtf, bytes) or not rtf.startswith(b"{\\rtf"):
        raise ValueError("compressed RTF that does not inflate to RTF")
    from striprtf.striprtf import rtf_to_text

    found = _CODEPAGE.search(rtf[:2000])
    codepage = f"cp{found.group(1).decode()}" if found else "cp1252"
    try:
        "".encode(codepage)
    except LookupError:
        codepage = "cp1252"
    text = rtf_to_text(rtf[:MAX_RTF].decode("latin-1"), encoding=codepage, errors="replace")
    return "\n".join(line.replace("\xa0", " ").rstrip() for line in text.splitlines())
