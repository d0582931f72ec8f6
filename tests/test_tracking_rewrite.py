"""The tracking rewrite of one email (fsl.delivery.tracking): pure, no server."""
from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from fsl.delivery.message import OutMessage
from fsl.delivery.tracking import track
from fsl.signals.handover import TokenTracker
from fsl.signals import tokens

SECRET = "rewrite-test-secret-0123456789"
T = TokenTracker("https://t.acme.example", SECRET, "replies@acme.example")
KEY = "7:hello:0:0"


def _msg(text: str, html: str | None = None) -> OutMessage:
    return OutMessage(KEY, "email", "send", "a@example.com", "Hi", text, html)


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("a", "area"):
            self.hrefs.append(dict(attrs).get("href") or "")


def _hrefs(html: str) -> list[str]:
    p = _Hrefs()
    p.feed(html)
    return p.hrefs


def _target(tracked, url: str) -> str | None:
    """Where the server sends a wrapped URL: the kept link of the token's index."""
    claim = tokens.verify(url.rsplit("/", 1)[1], "click", SECRET)
    assert claim is not None and claim.outbox_key == KEY
    return None if claim.link_index == tracked.trap else tracked.links[claim.link_index][1]


HTML = """<!doctype html><html><head><title>x</title><style>a{color:red}</style></head>
<body><!-- a comment with <a href="https://not.a.link/">x</a> -->
<p>Caf&eacute; &amp; co: <a href="https://acme.example/p?a=1&amp;b=2" class=btn>pricing</a>,
<a href="mailto:ana@acme.example">mail</a>, <a href="#top">top</a>, <a href="/relative">rel</a>,
<a name="anchor">no href</a> <img src="https://cdn.acme.example/logo.png" alt=logo><br/>
<area href="HTTPS://ACME.example/map" alt=m></p>
<script>var s = "<a href='https://in.script/'>";</script></body></html>"""


def test_an_html_template_keeps_everything_but_its_links_and_gains_trap_and_pixel():
    tracked = track(_msg("text https://acme.example/p?a=1&b=2", HTML), T, {"pricing": "https://acme.example/p?a=1&b=2"})
    html = tracked.message.html
    assert tracked.links == (("pricing", "https://acme.example/p?a=1&b=2"), (None, "HTTPS://ACME.example/map"))
    assert "Caf&eacute; &amp; co" in html and "<!-- a comment with <a href=\"https://not.a.link/\">x</a> -->" in html
    assert "var s = \"<a href='https://in.script/'>\";" in html  # script text untouched
    assert 'href="mailto:ana@acme.example"' in html and 'href="#top"' in html and 'href="/relative"' in html
    assert 'src="https://cdn.acme.example/logo.png"' in html  # images are not links
    hrefs = [h for h in _hrefs(html) if h.startswith("https://t.acme.example/c/")]
    assert [_target(tracked, h) for h in hrefs] == [None, "https://acme.example/p?a=1&b=2", "HTTPS://ACME.example/map"]
    assert html.index("/c/") < html.index("Caf")  # the trap comes first in the body
    assert html.rstrip().endswith("</body></html>") and html.count("https://t.acme.example/o/") == 1
    # the text part: the same URL is the same link
    assert _target(tracked, tracked.message.text.split()[-1]) == "https://acme.example/p?a=1&b=2"


def test_markdown_escapes_markup_from_contact_data():
    tracked = track(_msg("Hi <script>alert(1)</script> **Bob**, see https://acme.example/x."), T, {})
    assert "&lt;script&gt;" in tracked.message.html and "<strong>Bob</strong>" in tracked.message.html
    assert tracked.message.text.endswith(".") and tracked.links == ((None, "https://acme.example/x"),)


def test_a_fragment_without_body_still_gets_trap_first_and_pixel_last():
    tracked = track(_msg("t", '<p><a href="https://a.example/">a</a></p>'), T, {})
    html = tracked.message.html
    assert html.startswith('<a href="https://t.acme.example/c/') and "aria-hidden" in html.split(">")[0]
    assert html.endswith('border:0">')


def test_the_unsubscribe_url_is_never_wrapped_and_headers_are_set():
    u = T.unsubscribe_url(KEY)
    tracked = track(_msg(f"Stop: {u}"), T, {})
    assert tracked.links == () and u in tracked.message.text and u in _hrefs(tracked.message.html)
    assert tracked.message.headers == {
        "List-Unsubscribe": f"<{u}>, <mailto:replies@acme.example?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


URLS = st.builds(lambda host, path, q: f"https://{host}.example/{path}" + (f"?q={q}" if q else ""),
                 st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z0-9/_-]{0,12}", fullmatch=True),
                 st.from_regex(r"[a-z0-9]{0,6}", fullmatch=True))
WORDS = st.from_regex(r"[A-Za-z ,]{0,20}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(WORDS, URLS), min_size=1, max_size=5))
def test_every_url_of_the_text_part_leads_back_to_itself(pieces):
    text = " ".join(f"{w} {u} ." for w, u in pieces)
    tracked = track(_msg(text), T, {})
    wrapped = [w for w in tracked.message.text.split() if w.startswith("https://t.acme.example/c/")]
    assert [_target(tracked, w) for w in wrapped] == [u for _, u in pieces]
    assert sorted({u for _, u in pieces}) == sorted(u for _, u in tracked.links)


def test_the_verifier_remembers_valid_tokens_only_and_keeps_kinds_apart():
    verifier = tokens.Verifier(SECRET, ["an-old-secret-0123456789"], limit=2)
    click = tokens.make(SECRET, "7:hello:0:0", 1)
    old = tokens.make("an-old-secret-0123456789", "8:hello:0:0", kind="open")
    assert verifier.verify(click, "click") == tokens.Claim("click", "7:hello:0:0", 1)
    assert verifier.verify(click, "click") == tokens.Claim("click", "7:hello:0:0", 1)  # remembered
    assert verifier.verify(click, "unsubscribe") is None  # a click token is no unsubscribe, remembered or not
    assert verifier.verify(old, "open") == tokens.Claim("open", "8:hello:0:0", None)
    assert verifier.verify(click[:-2], "click") is None and verifier.verify("forged", "open") is None
    assert len(verifier._valid) == 2 and (click[:-2], "click") not in verifier._valid
    third = tokens.make(SECRET, "9:hello:0:0", kind="open")
    assert verifier.verify(third, "open") is not None and len(verifier._valid) == 2  # bounded
