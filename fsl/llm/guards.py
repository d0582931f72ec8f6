"""Hard guards on a model's draft: deterministic checks that run before anything can be sent.

A model can be talked into anything by the data in its prompt, so the rules
of a template (CONFIG.md: `max_words`, `avoid`, the offer limit, the links)
are not left to the model: `check` reads the final subject and body and
returns one Verdict per guard.  The checks are plain regular expressions over
a normalised copy of the text (NFKC, zero-width characters removed, curly
quotes straightened), so the same draft always gets the same verdicts, and
they err on the side of holding a message: a false alarm costs a re-ask or a
review, a miss costs an unauthorised discount in a customer's inbox.

Guards, by name:
  subject    the subject is not empty and is one line (no header injection)
  body       the body is not empty
  max_words  the body has at most `max_words` words (tokens with a letter or digit)
  avoid      no avoided phrase, ignoring case, quote style, spacing and hyphens
  offer      no percentage above the limit (min of the step's offer and the
             playbook's `offer max`; 0 when the step attached no offer): "30%",
             "30 percent", "thirty percent", "half off" (50), "2 for 1"/"BOGO"
             (50); and no money discount ("$50 off", "save €20"), since a step
             only ever offers a percentage
  emails     no email address but the contact's and the sender's
  phones     no phone number but the contact's and the sender's
  links      every declared link present, and no other http(s) URL or bare domain
             (any name under a real TLD: the Public Suffix List, read offline)
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

GUARDS: tuple[str, ...] = ("subject", "body", "max_words", "avoid", "offer", "emails", "phones", "links")
GUARDS_VERSION = 2  # part of the render cache key: changing a check must not reuse old verdicts


@dataclass(frozen=True, slots=True)
class Verdict:
    """One guard's decision on one draft; `reason` says why, for the journal and the re-ask."""

    guard: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"guard": self.guard, "passed": self.passed, "reason": self.reason}


@dataclass(frozen=True)
class GuardSettings:
    """What one message may contain; built per contact and step (see `for_message`)."""

    max_words: int | None = None
    avoid: tuple[str, ...] = ()
    allowed_percent: float | None = None  # the step's offer percent; None: the step attached no offer
    offer_max: float | None = None  # the playbook's `offer max`
    allowed_emails: tuple[str, ...] = ()
    allowed_phones: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = field(default=())  # (tag, url), sorted by tag

    def __post_init__(self) -> None:
        links: Any = self.links
        pairs = links.items() if isinstance(links, Mapping) else links
        object.__setattr__(self, "links", tuple(sorted((str(t), str(u)) for t, u in pairs)))
        object.__setattr__(self, "avoid", tuple(self.avoid))
        object.__setattr__(self, "allowed_emails", tuple(e for e in self.allowed_emails if e))
        object.__setattr__(self, "allowed_phones", tuple(p for p in self.allowed_phones if p))

    @property
    def percent_limit(self) -> float:
        """The highest percentage the message may mention."""
        if self.allowed_percent is None:
            return 0.0
        if self.offer_max is None:
            return float(self.allowed_percent)
        return float(min(self.allowed_percent, self.offer_max))

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able value that changes whenever a verdict could: part of the render cache key."""
        return {
            "version": GUARDS_VERSION,
            "max_words": self.max_words,
            "avoid": list(self.avoid),
            "allowed_percent": self.allowed_percent,
            "offer_max": self.offer_max,
            "allowed_emails": sorted(e.casefold() for e in self.allowed_emails),
            "allowed_phones": sorted(_digits(p) for p in self.allowed_phones),
            "links": [list(p) for p in self.links],
        }

    @classmethod
    def for_message(
        cls,
        template: Any,
        *,
        contact: Mapping[str, Any],
        sender: str | None = None,
        sender_phone: str | None = None,
        offer: Mapping[str, Any] | None = None,
        offer_max: float | None = None,
    ) -> "GuardSettings":
        """Settings for one send: the template's rules, this contact's and the sender's addresses.

        `sender` may be a display address (`Ana Ruiz <ana@acme.example>`, a
        channel's `from`); `offer` is the step's `{percent, expires}` or None.
        """
        sender_email = parseaddr(sender)[1] if sender else ""
        return cls(
            max_words=template.max_words,
            avoid=tuple(template.avoid),
            allowed_percent=None if offer is None else float(offer["percent"]),
            offer_max=offer_max,
            allowed_emails=tuple(e for e in (contact.get("email"), sender_email) if e),
            allowed_phones=tuple(p for p in (contact.get("phone"), sender_phone) if p),
            links=tuple(template.links.items()),  # sorted by __post_init__
        )


# ---------------------------------------------------------------------------
# Normalisation

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_QUOTES = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
})


def prepare(text: str) -> str:
    """NFKC, zero-width characters dropped, curly quotes and dashes made ASCII (case and spacing kept)."""
    return unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).translate(_QUOTES)


def normalize(text: str) -> str:
    """`prepare`, then case-folded with every run of whitespace one space: for phrase matching."""
    return " ".join(prepare(text).casefold().split())


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """Blank out spans (URLs, addresses) so later scans neither see nor join across them."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


# ---------------------------------------------------------------------------
# Words and phrases


def count_words(text: str) -> int:
    """Whitespace-separated tokens holding at least one letter or digit ("—" is not a word)."""
    return sum(1 for token in prepare(text).split() if any(c.isalnum() for c in token))


def _phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    tokens = [t for t in re.split(r"[\s\-]+", normalize(phrase)) if t]
    if not tokens:
        return None
    body = r"[\s\-]+".join(re.escape(t) for t in tokens)
    head = r"(?<!\w)" if tokens[0][0].isalnum() else ""
    tail = r"(?!\w)" if tokens[-1][-1].isalnum() else ""
    return re.compile(head + body + tail)


def find_avoided(text: str, phrases: Iterable[str]) -> list[str]:
    """The avoided phrases (as written in the template) that occur in `text`."""
    haystack = normalize(text)
    found = []
    for phrase in phrases:
        pattern = _phrase_pattern(phrase)
        if pattern is not None and pattern.search(haystack):
            found.append(phrase)
    return found


# ---------------------------------------------------------------------------
# Offers

_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen".split())}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, "hundred", "a", "and"], key=len, reverse=True))
_PERCENT_WORD = r"(?:%|percent\b|per[ \-]?cent\b|pct\b|percentage points?\b)"
_NUMERIC_PERCENT = re.compile(
    r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)\s*-?\s*" + _PERCENT_WORD, re.I)
_WORD_PERCENT = re.compile(  # at most 7 words ("one hundred and twenty-five"): keeps the scan linear
    rf"(?<![\w])(?P<num>(?:{_NUMBER_WORD})(?:[\s\-]+(?:{_NUMBER_WORD})){{0,6}})\s*-?\s*" + _PERCENT_WORD, re.I)
_WORD_DEALS: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"\bhalf[\s\-]+(?:off|price|priced|the\s+price|the\s+cost)\b", re.I), 50.0),
    (re.compile(r"\b(?:2|two)[\s\-]*(?:for|4)[\s\-]*(?:1|one)\b", re.I), 50.0),
    (re.compile(r"\bbuy[\s\-]+(?:1|one)[\s,\-]+get[\s\-]+(?:1|one)\b", re.I), 50.0),
    (re.compile(r"\bbogof?\b", re.I), 50.0),
    (re.compile(r"\b(?:a\s+)?quarter[\s\-]+off\b", re.I), 25.0),
    (re.compile(r"\b(?:a\s+|one[\s\-]+)?third[\s\-]+off\b", re.I), 100.0 / 3),
)
_CURRENCY = r"(?:[$€£¥₹]|\b(?:usd|eur|gbp|cad|aud)\b)"
_AMOUNT = r"(?<![\d,.])\d[\d,]*+(?:\.\d++)?(?:\s?[km]\b)?"
_MONEY_OFF = (
    re.compile(rf"{_CURRENCY}\s?{_AMOUNT}\s*(?:{_CURRENCY}\s*)?(?:off|discount|rebate|credit|cheaper|less)\b", re.I),
    re.compile(rf"{_AMOUNT}\s*(?:dollars?|euros?|pounds?|bucks)\s+(?:off|discount|rebate|credit|cheaper|less)\b", re.I),
    re.compile(rf"\b(?:save|saving|savings\s+of|discount\s+of|rebate\s+of|credit\s+of|knock)\s+(?:up\s+to\s+|over\s+)?"
               rf"(?:{_CURRENCY}\s?{_AMOUNT}|{_AMOUNT}\s*(?:{_CURRENCY}|dollars?|euros?|pounds?|bucks))", re.I),
)


def _words_to_number(words: str) -> float | None:
    """"twenty-five" -> 25, "one hundred" -> 100, "a hundred" -> 100; None if not a number."""
    tokens = [t for t in re.split(r"[\s\-]+", words.casefold()) if t]
    value, seen = 0, False
    for i, token in enumerate(tokens):
        if token == "and":
            continue
        if token == "a":
            if i + 1 < len(tokens) and tokens[i + 1] == "hundred":
                value, seen = value + 1, True
            else:
                value, seen = 0, False  # "a" starts over: "a good thirty percent"
            continue
        if token in _UNITS:
            value, seen = value + _UNITS[token], True
        elif token in _TENS:
            value, seen = value + _TENS[token], True
        elif token == "hundred":
            value, seen = max(value, 1) * 100, True
    return float(value) if seen else None


def find_percentages(text: str) -> list[tuple[float, str]]:
    """Every percentage or percent-like deal in `text`: (value, the words found).

    Money amounts ("$30 off") are not percentages: see `find_money_discounts`.
    """
    text = prepare(text)
    found: list[tuple[float, str]] = []
    for match in _NUMERIC_PERCENT.finditer(text):
        raw = match.group("num")
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", raw):
            number = float(raw.replace(",", ""))
        else:
            number = float(raw.replace(",", "."))
        found.append((number, match.group(0).strip()))
    for match in _WORD_PERCENT.finditer(text):
        spelled = _words_to_number(match.group("num"))
        if spelled is not None:
            found.append((spelled, match.group(0).strip()))
    for pattern, number in _WORD_DEALS:
        for match in pattern.finditer(text):
            found.append((number, match.group(0).strip()))
    return found


def find_money_discounts(text: str) -> list[str]:
    """Money-off phrases ("$50 off", "save €20", "20 dollars off")."""
    text = prepare(text)
    return [m.group(0).strip() for pattern in _MONEY_OFF for m in pattern.finditer(text)]


def _fmt_pct(value: float) -> str:
    return f"{value:g}%" if value == int(value) else f"{value:.1f}%"


# ---------------------------------------------------------------------------
# Addresses, phones, links

_EMAIL = re.compile(
    r"(?<![\w.+%\-])[\w.+%\-]++@[^\W_](?:[\w\-]*[^\W_])?(?:\.[^\W_](?:[\w\-]*[^\W_])?)+", re.I)
_OBFUSCATED_EMAIL = re.compile(
    r"(?<![\w.+\-])(?P<local>[\w.+\-]++)\s*[\[(<{]\s*at\s*[\])>}]\s*(?P<domain>[\w\-]+(?:\s*[\[(<{]\s*dot\s*[\])>}]\s*[\w\-]+)+)",
    re.I)
_URL = re.compile(r"(?:https?://|(?<![\w@.\-])www\.)[^\s<>\"'`]+", re.I)
# A bare domain is a run of dot-separated labels whose last one is a real
# top-level domain (the Public Suffix List, shipped inside the publicsuffixlist
# wheel and read offline): `acme.agency/deal` is a link, `e.g.`, `v1.2`,
# `report.pdf` and `Node.js` are not.  File names whose extension is also a TLD
# (`setup.zip`, `clip.mov`, `README.md`) count as links on purpose: mail
# clients turn them into clickable links to whoever registered the domain.
_LABEL = r"[^\W_](?:[\w\-]*[^\W_])?"
_BARE_DOMAIN = re.compile(
    rf"(?<![\w@.\-/])(?:{_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[a-z0-9\-]+)(?![\w\-])(?:/[^\s<>\"'`]*)?", re.I)
_RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost"})  # RFC 2606: not in the list, still links
_PSL: Any = None


def _domain_part(candidate: str) -> str | None:
    """The longest leading part of `host[/path]` that is a domain under a real TLD (with its path), or None."""
    global _PSL
    if _PSL is None:
        from publicsuffixlist import PublicSuffixList

        _PSL = PublicSuffixList()
    host, slash, path = candidate.partition("/")
    labels = host.lower().split(".")
    for end in range(len(labels), 1, -1):  # `acme.studio.Next` (no space after a full stop): `acme.studio`
        name = ".".join(labels[:end])
        suffix = _PSL.publicsuffix(name, accept_unknown=False)
        if (suffix is not None and suffix != name) or labels[end - 1] in _RESERVED_TLDS:
            kept = ".".join(host.split(".")[:end])
            return kept + slash + path if end == len(labels) else kept
    return None


_PHONE = re.compile(  # digit groups are possessive and need a separator: no exponential backtracking
    r"(?<![\w+@/.\-])(?:\+\s?)?(?:\(\d++\)|\d++)"
    r"(?:(?:\s?[.\-]\s?|\s|\s?(?=\()|(?<=\)))(?:\(\d++\)|\d++)){0,7}"
    r"(?![\w@]|[.\-/,]\d)")
_NOT_PHONES = (
    re.compile(r"\d{4}([\-./ ])\d{1,2}\1\d{1,2}"),  # 2026-01-15
    re.compile(r"\d{1,2}([\-./ ])\d{1,2}\1\d{2,4}"),  # 15.01.2026
    re.compile(r"(?:19|20)\d{2}\s?-\s?(?:19|20)\d{2}"),  # 2025-2026
    re.compile(r"\d{1,2}[.:]\d{2}\s?-\s?\d{1,2}[.:]\d{2}"),  # 09.00-17.00
    re.compile(r"\d{1,3}(?:[ .]\d{3})+"),  # 1 000 000, 1.250.000
    re.compile(r"\d+[.,]\d{1,2}"),  # 1234567.89
)
_TRAILING = ".,;:!?'\")]}>*_"


def _strip_url(url: str) -> str:
    """A URL as found in prose, without the sentence's punctuation (keeps balanced brackets)."""
    while url and url[-1] in _TRAILING:
        last = url[-1]
        opener = {")": "(", "]": "[", "}": "{"}.get(last)
        if opener and url.count(opener) >= url.count(last):
            break
        url = url[:-1]
    return url


def _url_key(url: str) -> str:
    """Comparison key: scheme and host case-insensitive, a trailing slash insignificant."""
    text = url if "://" in url else "http://" + url
    try:
        parts = urlsplit(text)
    except ValueError:
        return url
    path = parts.path.rstrip("/")
    key = f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"
    if parts.query:
        key += "?" + parts.query
    if parts.fragment:
        key += "#" + parts.fragment
    return key


def find_links(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Every http(s)/www URL and bare domain link, and their spans."""
    text = prepare(text)
    found: list[str] = []
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        url = _strip_url(match.group(0))
        found.append(url)
        spans.append((match.start(), match.start() + len(url)))
    rest = _mask(text, [m.span() for m in _EMAIL.finditer(text)] + spans)
    for match in _BARE_DOMAIN.finditer(rest):
        domain = _domain_part(_strip_url(match.group(0)))
        if domain is None:
            continue
        found.append(domain)
        spans.append((match.start(), match.start() + len(domain)))
    return found, spans


def find_emails(text: str) -> list[str]:
    """Email addresses, including `name [at] domain [dot] com` spellings (returned de-obfuscated)."""
    text = prepare(text)
    found = [m.group(0) for m in _EMAIL.finditer(text)]
    for match in _OBFUSCATED_EMAIL.finditer(text):
        domain = re.sub(r"\s*[\[(<{]\s*dot\s*[\])>}]\s*", ".", match.group("domain"), flags=re.I)
        found.append(f"{match.group('local')}@{domain}")
    return found


def find_phones(text: str) -> list[str]:
    """Phone numbers: E.164 (`+15550100`), `(555) 010-0199`, `555.010.0199`, `020 7946 0958`, ...

    Not phones: dates, year ranges, prices and amounts, short numbers; digits
    without any separator count only with a `+` or when 10 to 15 long.
    URLs and email addresses are skipped.
    """
    text = prepare(text)
    _, link_spans = find_links(text)
    text = _mask(text, [m.span() for m in _EMAIL.finditer(text)] + link_spans)
    found = []
    for match in _PHONE.finditer(text):
        candidate = match.group(0).strip()
        digits = _digits(candidate)
        if not 7 <= len(digits) <= 15:
            continue
        plus = candidate.startswith("+")
        if not plus and any(p.fullmatch(candidate) for p in _NOT_PHONES):
            continue
        if not plus and candidate.isdigit() and len(digits) < 10:
            continue
        if not plus and re.fullmatch(r"\d+\s\d+", candidate) and len(digits) < 9:
            continue  # "in 2024 500 teams": two numbers in a row, not "0800 123456"
        before = text[max(0, match.start() - 16): match.start()].rstrip()
        if re.search(r"(?:[$€£¥₹#]|\b(?:usd|eur|gbp|no\.?|nr\.?|order|invoice|ref))$", before, re.I):
            continue
        found.append(candidate)
    return found


def _phone_allowed(candidate: str, allowed: Iterable[str]) -> bool:
    """Same number, possibly written with or without the country code or a trunk 0."""
    c = _digits(candidate).lstrip("0")
    for item in allowed:
        a = _digits(item).lstrip("0")
        if not a:
            continue
        if c == a:
            return True
        short, long_ = sorted((c, a), key=len)
        if len(short) >= 7 and long_.endswith(short) and len(long_) - len(short) <= 3:
            return True
    return False


# ---------------------------------------------------------------------------
# The check


def check(draft: Any, settings: GuardSettings) -> list[Verdict]:
    """Every guard's verdict on a draft (an object with `subject` and `body`), in GUARDS order."""
    subject = prepare(draft.subject or "")
    body = prepare(draft.body or "")
    both = subject + "\n" + body
    return [
        _check_subject(subject),
        Verdict("body", bool(body.strip()), "the body is not empty" if body.strip() else "the body is empty"),
        _check_words(body, settings.max_words),
        _check_avoid(subject, body, settings.avoid),
        _check_offer(both, settings),
        _check_emails(both, settings.allowed_emails),
        _check_phones(both, settings.allowed_phones),
        _check_links(both, settings.links),
    ]


def failures(verdicts: Iterable[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if not v.passed]


def _check_subject(subject: str) -> Verdict:
    if not subject.strip():
        return Verdict("subject", False, "the subject is empty")
    if re.search(r"[\r\n\x0b\x0c\x85\u2028\u2029]", subject.strip()):
        return Verdict("subject", False, "the subject must be a single line")
    return Verdict("subject", True, "the subject is one non-empty line")


def _check_words(body: str, limit: int | None) -> Verdict:
    words = count_words(body)
    if limit is None:
        return Verdict("max_words", True, f"{words} words; no limit")
    if words > limit:
        return Verdict("max_words", False, f"the body has {words} words; at most {limit} are allowed")
    return Verdict("max_words", True, f"{words} words, at most {limit}")


def _check_avoid(subject: str, body: str, phrases: tuple[str, ...]) -> Verdict:
    found = list(dict.fromkeys(find_avoided(subject, phrases) + find_avoided(body, phrases)))
    if found:
        listed = ", ".join(f'"{p}"' for p in found)
        return Verdict("avoid", False, f"uses a phrase to avoid: {listed}")
    return Verdict("avoid", True, "no phrase to avoid" if phrases else "no phrases to avoid were declared")


def _check_offer(text: str, settings: GuardSettings) -> Verdict:
    links, link_spans = find_links(text)
    text = _mask(text, [m.span() for m in _EMAIL.finditer(text)] + link_spans)
    limit = settings.percent_limit
    problems = []
    for value, words in find_percentages(text):
        if value > limit + 1e-9:
            problems.append(f'"{words}" ({_fmt_pct(value)})')
    money = find_money_discounts(text)
    if not problems and not money:
        return Verdict("offer", True, f"no percentage above {_fmt_pct(limit)} and no money discount")
    if settings.allowed_percent is None:
        allowed = "this step attaches no offer, so no discount or percentage may be mentioned"
    else:
        allowed = f"the step offers at most {_fmt_pct(limit)}"
    parts = []
    if problems:
        parts.append("mentions " + ", ".join(dict.fromkeys(problems)) + f"; {allowed}")
    if money:
        listed = ", ".join(f'"{m}"' for m in dict.fromkeys(money))
        parts.append(f"offers a money discount ({listed}); only the step's percentage offer may be mentioned")
    return Verdict("offer", False, "; ".join(parts))


def _check_emails(text: str, allowed: tuple[str, ...]) -> Verdict:
    ok = {a.casefold() for a in allowed}
    others = [e for e in dict.fromkeys(find_emails(text)) if e.casefold() not in ok]
    if others:
        return Verdict("emails", False, "contains an email address other than the contact's or the sender's: "
                       + ", ".join(others))
    return Verdict("emails", True, "no other email address")


def _check_phones(text: str, allowed: tuple[str, ...]) -> Verdict:
    others = [p for p in dict.fromkeys(find_phones(text)) if not _phone_allowed(p, allowed)]
    if others:
        return Verdict("phones", False, "contains a phone number other than the contact's or the sender's: "
                       + ", ".join(others))
    return Verdict("phones", True, "no other phone number")


def _check_links(text: str, declared: tuple[tuple[str, str], ...]) -> Verdict:
    found, _ = find_links(text)
    found_keys = {_url_key(u) for u in found}
    declared_keys = {_url_key(url) for _, url in declared}
    missing = [f"{url} ({tag})" for tag, url in declared if _url_key(url) not in found_keys]
    others = [u for u in dict.fromkeys(found) if _url_key(u) not in declared_keys]
    parts = []
    if missing:
        parts.append("a declared link is missing, include it exactly as given: " + ", ".join(missing))
    if others:
        parts.append("contains a link that is not one of the template's links: " + ", ".join(others))
    if parts:
        return Verdict("links", False, "; ".join(parts))
    if not declared:
        return Verdict("links", True, "no links declared and none present")
    return Verdict("links", True, f"every declared link present ({len(declared)}), no other link")
