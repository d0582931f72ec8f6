"""HTML mail reduced to its text (mail.py's text/html parts, a winmail.dat's HTML body)."""
from __future__ import annotations

import html
import re

_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_BREAKS = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h\d|/blockquote)\b[^>]*>", re.I)
_QUOTES = re.compile(r"<blockquote\b.*?</blockquote\s*>", re.S | re.I)


def html_to_text(markup: str) -> str:
    """HTML reduced to its text, lines kept; quoted history (<blockquote>) dropped, since
    mail clients put the conversation being answered there."""
    markup = _TAGS.sub(" ", markup)
    markup = _QUOTES.sub("\n", markup)
    markup = _BREAKS.sub("\n", markup)
    text = html.unescape(re.sub(r"<[^>]*>", " ", markup))
    return "\n".join(re.sub(r"[ \t\xa0]+", " ", line).strip() for line in text.splitlines())
