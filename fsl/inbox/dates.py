"""The first day back, read from an out-of-office text (SIGNALS.md 3).

A cue says how to read the date next to it: "back on X", "ab X wieder",
"de retour le X", "将于X返回" give the first day back (X); "out through X",
"bis einschließlich X", "jusqu'au X", "hasta el X", "至X", "Xまで" give the
last day away (the day after X is the first day back).  Where a text has
both, the day back wins.  English "until X" is read as the day back ("away
until Monday" means back on Monday); "until" in the other languages is
inclusive, as it is usually meant there (docs/DECISIONS.md).  The date text
itself is read by dateparser, relative to the message's own date in the
contact's time zone, preferring the future (a "May 5" written in December
is next year's).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import dateparser

_D = r"(?P<d>[^\n]{1,48})"  # the words after a cue; _parse finds the date at their start
# (cue regex, day-back?) per language; the date follows the cue.  Order does not matter: all are tried.
_BACK = [
    r"\b(?:back|return(?:ing)?|in the office(?: again)?|available(?: again)?|reachable)\b(?: to (?:the |my )?(?:office|work|my desk))?(?: in the office)?(?: (?:on|from|by))? " + _D,
    r"\bwill be (?:back|in) (?:on |from )?" + _D,
    r"\baway until " + _D,
    r"\bout of (?:the )?office until " + _D,
    r"\buntil " + _D,
    r"\b(?:ab|am|seit)(?: dem)? " + _D + r"(?:,)? (?:bin ich )?(?:wieder|zurück)",
    r"\b(?:wieder|zurück)(?: im büro| erreichbar| da| für sie da| zu erreichen)?(?: ab| am)(?: dem)? " + _D,
    r"\b(?:de retour|retour prévu|je serai de retour|je reviendrai|reprendrai)(?: au bureau)?(?: le| à partir du| dès le| lundi)? " + _D,
    r"\b(?:de vuelta|regreso|regresaré|volveré|estaré de regreso|estaré de vuelta|me reincorporo|reincorporaré)(?: a la oficina)?(?: el| a partir del| el día)? " + _D,
    r"\b(?:de volta|retorno|retornarei|volto|estarei de volta|regresso)(?: ao escritório)?(?: em| no dia| a partir de| a partir do dia| dia)? " + _D,
]
_THROUGH = [
    r"\b(?:through|thru|up to and including) " + _D,
    r"\bbis(?: einschließlich| inklusive| inkl\.?| zum| zu)? " + _D,
    r"\bjusqu'(?:au|à)(?: lundi| mardi| mercredi| jeudi| vendredi| samedi| dimanche)? " + _D,
    r"\bhasta(?: el)?(?: día)? " + _D,
    r"\baté(?: o dia| ao dia| dia| o| a)? " + _D,
]
_CJK_DATE = r"(?P<d>(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*[日号號]?|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}/\d{1,2})"
_CJK_BACK = [_CJK_DATE + r"\s*(?:[（(][^)）]{1,4}[)）])?\s*(?:将|會|会|起|开始|開始)?\s*(?:返回|回来|回來|上班|恢复|恢復|返岗|返崗|回到|に戻り|から出社|より出社|に出社|以降|から通常|より通常)",
             r"(?:将于|將於|预计|預計)\s*" + _CJK_DATE]
_CJK_THROUGH = [r"(?:至|到|直至|直到)\s*" + _CJK_DATE, _CJK_DATE + r"\s*(?:[（(][^)）]{1,4}[)）])?\s*まで"]
_RANGE = re.compile(r"\b(?P<m>[A-Z][a-z]{2,8})\.? (?P<a>\d{1,2})(?:st|nd|rd|th)?\s*(?:-|–|to)\s*(?P<b>\d{1,2})(?:st|nd|rd|th)?\b")
_CJK_NUM = re.compile(r"(?:(?P<y>\d{4})\s*年\s*)?(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})")

# the language of each cue, in list order: dateparser then reads the date in that language only
# (all of them at once costs ten times as much)
_BACK_LANGS = ["en", "en", "en", "en", "en", "de", "de", "fr", "es", "pt"]
_THROUGH_LANGS = ["en", "de", "fr", "es", "pt"]
_COMPILED = [(re.compile(p, re.I), True, lang) for p, lang in zip(_BACK, _BACK_LANGS)] \
    + [(re.compile(p, re.I), False, lang) for p, lang in zip(_THROUGH, _THROUGH_LANGS)] \
    + [(re.compile(p), True, "cjk") for p in _CJK_BACK] + [(re.compile(p), False, "cjk") for p in _CJK_THROUGH]
if len(_BACK) != len(_BACK_LANGS) or len(_THROUGH) != len(_THROUGH_LANGS):
    raise AssertionError("each cue needs its language")


def return_date(text: str, sent: datetime) -> tuple[date | None, str | None]:
    """(the first day back, the phrase that said so); (None, None) when the text gives none.

    `sent`: the message's date in the contact's time zone (naive local time)."""
    back: list[tuple[int, date, str]] = []
    through: list[tuple[int, date, str]] = []
    head = text[:4000]
    read: dict[tuple[str, str], date | None] = {}  # several patterns often find the same phrase
    for pattern, is_back, lang in _COMPILED:
        for found in pattern.finditer(head):
            key = (found.group("d"), lang)
            if key not in read:
                read[key] = _cjk(key[0], sent) if lang == "cjk" else _parse(key[0], sent, lang)
            day = read[key]
            if day is None:
                continue
            inclusive = _INCLUSIVE.search(found.group("d"))
            phrase = found.group(0).strip()[:80]
            (back if is_back and not inclusive else through).append((found.start(), day, phrase))
    ranged = _range(head, sent)
    if ranged is not None:
        through.append(ranged)
    if back:
        _, day, phrase = min(back)
        return day, phrase
    if through:
        _, day, phrase = min(through)
        return day + timedelta(days=1), phrase
    return None, None


_INCLUSIVE = re.compile(r"\b(?:inclusive|inclusively|inclus|inclusive?ment|einschließlich|inklusive)\b", re.I)
_NOISE = re.compile(r"\b(?:the|den|dem|le|el|o|dia|día|der|am|on|of|de)\b|[,()]", re.I)


def _parse(phrase: str, sent: datetime, lang: str = "en") -> date | None:
    """The date at the start of `phrase` (shortened word by word until it reads as one)."""
    words = phrase.strip().split()
    settings = {"RELATIVE_BASE": sent, "PREFER_DATES_FROM": "future", "RETURN_AS_TIMEZONE_AWARE": False}
    for end in range(min(len(words), 6), 0, -1):
        candidate = _NOISE.sub(" ", " ".join(words[:end])).strip(" .")
        if not candidate or not re.search(r"\d|day|tag|di|lundi|mardi|mercredi|jeudi|vendredi|lunes|martes|miércoles|"
                                          r"jueves|viernes|segunda|terça|quarta|quinta|sexta|tomorrow|morgen|demain|"
                                          r"mañana|amanhã|week|woche|semaine|semana", candidate, re.I):
            continue
        try:
            found = dateparser.parse(candidate, languages=[lang] if lang == "en" else [lang, "en"], settings=settings)
        except Exception:  # noqa: BLE001 - dateparser on odd text: no date, not a crash
            found = None
        if found is not None and timedelta(0) <= found.date() - sent.date() <= timedelta(days=400):
            return found.date()
        if found is not None and found.date() < sent.date() and found.date() >= sent.date() - timedelta(days=2):
            return None  # a date in the past: not a day back
    return None


def _cjk(phrase: str, sent: datetime) -> date | None:
    found = _CJK_NUM.search(phrase)
    try:
        if found:
            year = int(found.group("y")) if found.group("y") else sent.year
            day = date(year, int(found.group("m")), int(found.group("d")))
            if not found.group("y") and day < sent.date() - timedelta(days=2):
                day = date(year + 1, day.month, day.day)
            return day
        iso = re.match(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", phrase)
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        short = re.match(r"(\d{1,2})/(\d{1,2})", phrase)
        if short:
            day = date(sent.year, int(short.group(1)), int(short.group(2)))
            return day if day >= sent.date() - timedelta(days=2) else date(sent.year + 1, day.month, day.day)
    except ValueError:
        return None
    return None


def _range(text: str, sent: datetime) -> tuple[int, date, str] | None:
    """"July 10-31": away through the 31st."""
    found = _RANGE.search(text)
    if found is None:
        return None
    day = _parse(f"{found.group('m')} {found.group('b')}", sent, "en")
    return (found.start(), day, found.group(0)) if day is not None else None
