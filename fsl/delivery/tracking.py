"""The tracking rewrite of an email at hand-over (SIGNALS.md 1): pure, no store, no secret.

    tracked = track(msg, tracker, template_links)

For a channel with `tracking: on` every email leaves as multipart/alternative:

* the HTML part is the template's own HTML, or, for a Markdown template,
  its text rendered by markdown-it-py (raw HTML in the text is escaped, so
  contact data can never become markup; bare URLs become links);
* every http(s) link of both parts becomes `tracker.click_url(key, i)`,
  where `i` numbers the distinct URLs of the message in order of first
  appearance (HTML first, then text) -- the same URL is the same link in
  both parts.  `tracked.links[i]` is (tag, URL): the tag when the URL is
  one of the template's `links:`, else None.  The runtime keeps that list
  with the message (fsl.signals.handover) so a click redirects to exactly
  the URL the message carried;
* the unsubscribe URL (`{{ unsubscribe_url }}`) is never wrapped;
* the HTML part gets, first thing in its body, a link no person can see
  (the trap: `tracked.trap` is its index, it has no entry in `links`), and
  at the end the 1x1 open pixel;
* the headers `List-Unsubscribe` (the `/u/` URL and a mailto) and
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).

HTML is rewritten through `html.parser` events, re-emitting everything it
does not change as it was written: never a regular expression over HTML.
The plain text part is not HTML; its URLs are found with a pattern.
"""
from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from typing import Mapping, Protocol

from .message import OutMessage


class Tracker(Protocol):
    """The signed URLs of one project's `fsl serve` (fsl.signals.handover.TokenTracker)."""

    def click_url(self, key: str, index: int) -> str: ...

    def open_url(self, key: str) -> str: ...

    def unsubscribe_url(self, key: str) -> str: ...

    def unsubscribe_mailto(self) -> str | None: ...


@dataclass(frozen=True)
class Tracked:
    message: OutMessage
    links: tuple[tuple[str | None, str], ...]  # (tag, URL) by link index
    trap: int  # the index of the hidden link (one past the last real link)


TRAP_STYLE = "display:none!important;max-height:0;overflow:hidden;font-size:0;line-height:0;color:transparent"
_LINK_ATTRS = {"a": "href", "area": "href"}


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    # html off: `<b>` typed by a contact (or a template) is shown, never rendered
    return MarkdownIt("commonmark", {"html": False, "linkify": True}).enable("linkify")


def markdown_html(text: str) -> str:
    """The HTML part of a Markdown template's message."""
    body = _markdown().render(text)
    return f'<!doctype html>\n<html><head><meta charset="utf-8"></head><body>\n{body}</body></html>\n'


class _Links:
    """The message's distinct URLs, numbered in order of first appearance."""

    def __init__(self, tags: Mapping[str, str], skip: str) -> None:
        self.order: list[str] = []
        self.index: dict[str, int] = {}
        self.tag_of: dict[str, str] = {}
        for tag, url in tags.items():
            self.tag_of.setdefault(url, tag)
        self.skip = skip  # the unsubscribe URL: never wrapped

    def wrap(self, url: str) -> int | None:
        if not _trackable(url) or url == self.skip:
            return None
        if url not in self.index:
            self.index[url] = len(self.order)
            self.order.append(url)
        return self.index[url]

    def listing(self) -> tuple[tuple[str | None, str], ...]:
        return tuple((self.tag_of.get(url), url) for url in self.order)


def _trackable(url: str) -> bool:
    lowered = url.strip().lower()
    return lowered.startswith(("http://", "https://"))


class _Rewriter(HTMLParser):
    """Re-emits an HTML document with its links wrapped, the trap first in the body and
    the pixel last.  Tags and text it does not change are copied as written."""

    def __init__(self, links: _Links, click, pixel_url: str) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.links = links
        self.click = click
        self.trap_at: int | None = None  # where the trap goes in `out`: its index is known only at the end
        self.pixel_html = (f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" '
                           f'style="display:block;width:1px;height:1px;border:0">')
        self.pixel_placed = False

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], close: bool) -> None:
        wanted = _LINK_ATTRS.get(tag)
        changed = False
        if wanted:
            new = []
            for name, value in attrs:
                if name == wanted and value is not None:
                    index = self.links.wrap(value.strip())
                    if index is not None:
                        value, changed = self.click(index), True
                new.append((name, value))
            attrs = new
        if changed:
            text = "".join(f" {n}" if v is None else f' {n}="{html.escape(v)}"' for n, v in attrs)
            self.out.append(f"<{tag}{text}{' /' if close else ''}>")
        else:
            self.out.append(self.get_starttag_text() or "")
        if tag == "body" and not close:
            self._place_trap()

    def _place_trap(self) -> None:
        if self.trap_at is None:
            self.trap_at = len(self.out)
            self.out.append("")

    def handle_starttag(self, tag, attrs):
        if tag not in ("html", "head", "body", "meta", "title", "style", "link", "base"):
            self._place_trap()  # a fragment without <body>: before the first thing shown
        self._tag(tag, attrs, False)

    def handle_startendtag(self, tag, attrs):
        self._tag(tag, attrs, True)

    def handle_endtag(self, tag):
        if tag == "body" and not self.pixel_placed:
            self.out.append(self.pixel_html)
            self.pixel_placed = True
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        self.out.append(data)

    def handle_entityref(self, name):
        self.out.append(f"&{name};")

    def handle_charref(self, name):
        self.out.append(f"&#{name};")

    def handle_comment(self, data):
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data):
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data):
        self.out.append(f"<![{data}]>")

    def result(self, trap_url: str) -> str:
        self.close()
        trap = f'<a href="{html.escape(trap_url)}" style="{TRAP_STYLE}" aria-hidden="true" tabindex="-1"></a>'
        if self.trap_at is None:
            self.out.insert(0, trap)
        else:
            self.out[self.trap_at] = trap
        if not self.pixel_placed:
            self.out.append(self.pixel_html)
        return "".join(self.out)


# A URL in plain text: up to whitespace or a delimiter a sentence puts around it;
# punctuation that ends the sentence is not part of it.
_TEXT_URL = re.compile(r"""https?://[^\s<>"'\[\]{}|\\^`]+""", re.IGNORECASE)
_TRAILING = ".,;:!?)"


def _rewrite_text(text: str, links: _Links, click) -> str:
    def one(match: re.Match) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in _TRAILING and not (url[-1] == ")" and url.count("(") >= url.count(")")):
            url, tail = url[:-1], url[-1] + tail
        index = links.wrap(url)
        return (click(index) if index is not None else url) + tail

    return _TEXT_URL.sub(one, text)


def track(msg: OutMessage, tracker: Tracker, template_links: Mapping[str, str]) -> Tracked:
    """The message as it leaves a channel with `tracking: on` (see the module docstring)."""
    key = msg.key
    unsubscribe = tracker.unsubscribe_url(key)
    links = _Links(template_links, unsubscribe)

    @functools.lru_cache(maxsize=None)
    def click(index: int) -> str:  # the same link in both parts: signed once
        return tracker.click_url(key, index)

    source = msg.html if msg.html else markdown_html(msg.text)
    rewriter = _Rewriter(links, click, tracker.open_url(key))
    rewriter.feed(source)
    text = _rewrite_text(msg.text, links, click)
    trap = len(links.order)  # after every real link of both parts
    body = rewriter.result(click(trap))
    headers = dict(msg.headers)
    mailto = tracker.unsubscribe_mailto()
    targets = [f"<{unsubscribe}>"] + ([f"<mailto:{mailto}?subject=unsubscribe>"] if mailto else [])
    headers["List-Unsubscribe"] = ", ".join(targets)
    headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return Tracked(replace(msg, text=text, html=body, headers=headers), links.listing(), trap)
