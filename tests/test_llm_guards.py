"""fsl.llm guards and answer parsing: each guard passing and failing, and the tricky cases."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as settings_h
from hypothesis import strategies as st

from fsl.llm.guards import (
    GUARDS,
    GuardSettings,
    check,
    count_words,
    find_avoided,
    find_emails,
    find_links,
    find_money_discounts,
    find_percentages,
    find_phones,
)
from fsl.llm.schema import DRAFT_SCHEMA, Draft, DraftError, parse_draft, response_format
from fsl.templates import parse_template

CASE = "https://acme.example/cases/northwind"
BOOK = "https://acme.example/book"


def settings(**kw) -> GuardSettings:
    base = dict(max_words=60, avoid=("just checking in", "touching base"), allowed_percent=None, offer_max=None,
                allowed_emails=("dana@northwind.example", "ana@acme.example"),
                allowed_phones=("+1 415 555 0100",), links={"case_study": CASE})
    base.update(kw)
    return GuardSettings(**base)


def verdict(subject: str, body: str, **kw):
    return {v.guard: v for v in check(Draft(subject=subject, body=body), settings(**kw))}


GOOD_BODY = f"Hi Dana, thanks for the call. Here is the Northwind case study: {CASE}. Best, Ana"


def test_good_draft_passes_every_guard_in_order():
    verdicts = check(Draft(subject="Next steps", body=GOOD_BODY), settings())
    assert [v.guard for v in verdicts] == list(GUARDS)
    assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed]


# -- subject / body -------------------------------------------------------------------


@pytest.mark.parametrize("subject", ["", "   ", "\n"])
def test_empty_subject_fails(subject):
    v = verdict(subject, GOOD_BODY)["subject"]
    assert not v.passed and "empty" in v.reason


def test_multiline_subject_fails():
    v = verdict("Hello\nBcc: everyone@example.com", GOOD_BODY)["subject"]
    assert not v.passed and "single line" in v.reason


def test_empty_body_fails():
    assert not verdict("Hi", " \n ")["body"].passed


# -- max_words --------------------------------------------------------------------------


def test_word_count_ignores_punctuation_tokens():
    assert count_words("Hi Dana — thanks!  See you\n\nsoon . ") == 6


def test_max_words_boundary():
    body = " ".join(["word"] * 59) + " " + CASE
    assert verdict("s", body)["max_words"].passed  # exactly 60
    v = verdict("s", body + " more")["max_words"]
    assert not v.passed and "61 words; at most 60" in v.reason


def test_no_word_limit_passes():
    assert verdict("s", GOOD_BODY + " x" * 500, max_words=None)["max_words"].passed


# -- avoid --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Just checking in on the proposal.",
    "JUST CHECKING IN!",
    "just   checking\n in",
    "Just checking-in about it",
    "Just che\u200bcking in",  # zero-width space
])
def test_avoid_phrase_found_despite_case_spacing(text):
    assert find_avoided(text, ["just checking in"]) == ["just checking in"]


def test_avoid_curly_quotes_normalised():
    assert find_avoided("I\u2019m \u201ctouching base\u201d", ["I'm \"touching base\""]) == ["I'm \"touching base\""]
    assert find_avoided("I'm touching base", ["I\u2019m touching base"]) == ["I\u2019m touching base"]


def test_avoid_respects_word_boundaries():
    assert find_avoided("We keep touching baseline metrics", ["touching base"]) == []
    assert find_avoided("adjust checking in", ["just checking in"]) == []


def test_avoid_guard_on_subject_and_body():
    v = verdict("Touching base", GOOD_BODY)["avoid"]
    assert not v.passed and '"touching base"' in v.reason
    assert not verdict("Hi", "Just checking in. " + GOOD_BODY)["avoid"].passed
    assert verdict("Hi", GOOD_BODY)["avoid"].passed


# -- offer ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text,value", [
    ("30% off", 30), ("30 % off", 30), ("30 percent off", 30), ("30 per cent", 30), ("30-percent", 30),
    ("thirty percent", 30), ("Thirty-Five Percent", 35), ("twenty five per cent", 25),
    ("one hundred percent", 100), ("a hundred percent", 100), ("12.5%", 12.5), ("12,5 %", 12.5),
    ("half off", 50), ("Half-price seats", 50), ("half the price", 50),
    ("2 for 1", 50), ("two-for-one", 50), ("2-for-1", 50), ("BOGO", 50), ("buy one, get one free", 50),
    ("a quarter off", 25), ("\uff11\uff10\uff05", 10),  # fullwidth "10%"
])
def test_percentages_found(text, value):
    assert [round(v, 2) for v, _ in find_percentages(text)] == [value]


def test_percentages_glued_to_words_are_found():
    assert [v for v, _ in find_percentages("save90% today")] == [90]
    assert find_links("Visithttps://evil.example/x now")[0] == ["https://evil.example/x"]


@pytest.mark.parametrize("text", ["$30 off", "save $50 today", "30 dollars off", "€20 discount", "knock $1,000 off"])
def test_money_off_is_not_a_percentage_but_a_money_discount(text):
    assert find_percentages(text) == []
    assert find_money_discounts(text)


@pytest.mark.parametrize("text", ["plans start at $49 a month", "we saved 3 hours a week", "on 2026-03-30", "24/7 support",
                                  "half of our customers", "it costs less", "one of two options"])
def test_no_offer_in_ordinary_text(text):
    assert find_percentages(text) == [] and find_money_discounts(text) == []


def test_offer_limited_by_step_and_offer_max():
    body = GOOD_BODY + " You get 20% off until Friday."
    assert verdict("s", body, allowed_percent=20)["offer"].passed
    assert verdict("s", GOOD_BODY + " 15% off", allowed_percent=20)["offer"].passed  # less is fine
    v = verdict("s", body, allowed_percent=20, offer_max=15)["offer"]
    assert not v.passed and "at most 15%" in v.reason
    v = verdict("s", GOOD_BODY + " Take thirty percent off.", allowed_percent=20)["offer"]
    assert not v.passed and "thirty percent" in v.reason


def test_offer_without_step_offer_allows_no_percentage():
    v = verdict("s", GOOD_BODY + " Half off this week!")["offer"]
    assert not v.passed and "no offer" in v.reason
    assert not verdict("s", GOOD_BODY + " BOGO!", allowed_percent=40)["offer"].passed  # 50 > 40
    assert verdict("s", GOOD_BODY + " BOGO!", allowed_percent=50)["offer"].passed


def test_offer_money_discount_fails_even_with_percentage_offer():
    v = verdict("s", GOOD_BODY + " That is $40 off.", allowed_percent=20)["offer"]
    assert not v.passed and "$40 off" in v.reason


def test_offer_in_subject_counts_and_urls_do_not():
    assert not verdict("50% off for you", GOOD_BODY, allowed_percent=10)["offer"].passed
    body = f"Hi, see {CASE}?utm=50%25 thanks"
    assert verdict("s", body, links={"c": f"{CASE}?utm=50%25"})["offer"].passed


# -- emails -----------------------------------------------------------------------------------


def test_emails_allowed_and_not():
    assert verdict("s", GOOD_BODY + " Reply to ANA@acme.example.")["emails"].passed  # case-insensitive
    v = verdict("s", GOOD_BODY + " Or mail bob@rival.example.")["emails"]
    assert not v.passed and "bob@rival.example" in v.reason


def test_obfuscated_email_found():
    assert find_emails("reach me at bob [at] rival [dot] example") == ["bob@rival.example"]
    assert not verdict("s", GOOD_BODY + " bob (at) rival (dot) com")["emails"].passed


def test_email_sentence_end_and_plus_tags():
    assert find_emails("Write to dana+sales@northwind.example.") == ["dana+sales@northwind.example"]


# -- phones -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "+14155550199", "+1 415 555 0199", "(415) 555-0199", "415-555-0199", "415.555.0199", "4155550199",
    "+44 20 7946 0958", "+44 (0)20 7946 0958", "020 7946 0958", "06 12 34 56 78", "call 555-0100 now",
])
def test_phones_found(text):
    assert len(find_phones(text)) == 1, find_phones(text)


@pytest.mark.parametrize("text", [
    "on 2026-03-30", "on 30.03.2026", "on 03/30/2026", "in 2025-2026", "$1,299.00", "1 000 000 users",
    "1.250.000 rows", "€1234567.89", "order #55501001990", "12345678", "open 09.00-17.00", "in 2024 500 teams",
    "version 3.11.7", "at 10:30", "room 101", f"see {CASE}/4155550199",
])
def test_not_phones(text):
    assert find_phones(text) == []


def test_phone_guard_allows_own_numbers_in_other_formats():
    assert verdict("s", GOOD_BODY + " Call me on (415) 555-0100.")["phones"].passed
    assert verdict("s", GOOD_BODY + " Call me on +14155550100.")["phones"].passed
    v = verdict("s", GOOD_BODY + " Call me on +1 415 555 0199.")["phones"]
    assert not v.passed and "+1 415 555 0199" in v.reason


# -- links -----------------------------------------------------------------------------------------


def test_links_present_with_trailing_punctuation():
    for tail in (".", ",", ")", "!", "/"):
        assert verdict("s", f"See ({CASE}{tail}" if tail == ")" else f"See {CASE}{tail} ok")["links"].passed


def test_declared_link_missing():
    v = verdict("s", "Hi Dana, thanks for the call. Best, Ana")["links"]
    assert not v.passed and "missing" in v.reason and "case_study" in v.reason


def test_altered_declared_link_is_missing_and_other():
    v = verdict("s", f"See {CASE}?ref=ai")["links"]
    assert not v.passed and "missing" in v.reason and "not one of the template's links" in v.reason


@pytest.mark.parametrize("extra", ["https://evil.example/x", "http://acme.example/cases/northwind",
                                   "www.rival.com", "rival.io/pricing", "Acme.COM"])
def test_other_links_fail(extra):
    v = verdict("s", f"{GOOD_BODY} Also {extra} there")["links"]
    assert not v.passed and "not one of the template's links" in v.reason


def test_two_declared_links_and_no_declared_links():
    body = f"See {CASE} and book at {BOOK}."
    assert verdict("s", body, links={"case_study": CASE, "book": BOOK})["links"].passed
    assert not verdict("s", f"See {CASE}.", links={"case_study": CASE, "book": BOOK})["links"].passed
    assert verdict("s", "No links here, e.g. none. Node.js is fine.", links={})["links"].passed
    assert not verdict("s", f"See {CASE}", links={})["links"].passed


def test_email_domains_are_not_links():
    assert find_links("write to ana@acme.example") == ([], [])


# -- settings ------------------------------------------------------------------------------------


def test_for_message_reads_template_contact_sender_offer():
    template = parse_template(
        '---\nrenderer: llm\nmax_words: 90\navoid: ["a b"]\nlinks:\n  case_study: "%s"\n---\nWrite.\n' % CASE,
        Path("t.md"), "t")
    s = GuardSettings.for_message(template, contact={"email": "dana@northwind.example", "phone": "+1 415 555 0100"},
                                  sender="Ana Ruiz <ana@acme.example>", offer={"percent": 15, "expires": None},
                                  offer_max=10)
    assert s.max_words == 90 and s.avoid == ("a b",) and s.links == (("case_study", CASE),)
    assert s.allowed_emails == ("dana@northwind.example", "ana@acme.example")
    assert s.allowed_phones == ("+1 415 555 0100",)
    assert s.percent_limit == 10


def test_fingerprint_is_stable_and_sensitive():
    assert settings().fingerprint() == settings().fingerprint()
    assert settings().fingerprint() != settings(allowed_percent=10).fingerprint()
    assert settings().fingerprint() != settings(links={"case_study": CASE + "x"}).fingerprint()


def test_check_is_deterministic():
    draft = Draft(subject="50% off", body=GOOD_BODY + " bob@x.example +1 415 555 0199 www.x.com")
    assert check(draft, settings()) == check(draft, settings())


# -- parsing answers --------------------------------------------------------------------------------


def test_parse_plain_and_fenced_json():
    assert parse_draft('{"subject": "S", "body": "B"}') == Draft(subject="S", body="B")
    assert parse_draft('  ```json\n{"subject": "S", "body": "B"}\n```  ') == Draft(subject="S", body="B")
    assert parse_draft('```\n{"subject": "S", "body": "B"}\n```') == Draft(subject="S", body="B")


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("Sure! Here it is", "not a JSON object"),
    ('Here you go: {"subject": "S", "body": "B"}', "not a JSON object"),
    ('{"subject": "S", "body": "B"} {"subject": "T", "body": "C"}', "not a JSON object"),
    ('["S", "B"]', "JSON array"),
    ('"S"', "JSON string"),
    ('{"subject": "S"}', "`body` is missing"),
    ('{"subject": "S", "body": 3}', "`body` must be a string"),
    ('{"subject": "S", "body": "B", "notes": "x"}', "`notes` is not allowed"),
])
def test_parse_rejects_with_reason(text, fragment):
    with pytest.raises(DraftError) as info:
        parse_draft(text)
    assert fragment in info.value.reason


def test_response_formats():
    strict = response_format("json_schema")
    assert strict["json_schema"]["strict"] is True and strict["json_schema"]["schema"] == DRAFT_SCHEMA
    assert response_format("json_object") == {"type": "json_object"}
    assert response_format("plain") is None


# -- robustness ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["1", "1 ", "1-", "12.", "x.", "half ", "one ", "9" * 20 + " ", "1,", "$1", "(1)",
                                  "a@", "www.", "https://", "+1 ", "a [at] b", "save $", "just checking ", "a" * 30])
def test_guards_stay_fast_on_hostile_text(unit):
    text = unit * (20000 // len(unit))
    started = time.perf_counter()
    check(Draft(subject=text[:200], body=text), settings())
    # A hang detector, not a speed measurement: a backtracking regex takes hours on this
    # text, a linear one milliseconds; 30 s leaves room for any busy machine.
    assert time.perf_counter() - started < 30


@settings_h(max_examples=150, deadline=None)
@given(st.text(max_size=400), st.text(max_size=80))
def test_check_never_raises_and_is_deterministic(body, subject):
    draft = Draft(subject=subject, body=body)
    first = check(draft, settings())
    assert first == check(draft, settings()) and len(first) == len(GUARDS)


# -- bare domains: any real TLD (the Public Suffix List, offline) -----------------------------


@pytest.mark.parametrize("extra", ["acme.agency/deal", "acme.finance", "acme.studio", "example.co.uk",
                                   "bücher.de", "setup.zip", "clip.mov", "Rival.Shop/pricing"])
def test_bare_domains_under_any_real_tld_fail(extra):
    v = verdict("s", f"{GOOD_BODY} Also {extra} there")["links"]
    assert not v.passed and extra.split("/")[0] in v.reason


@pytest.mark.parametrize("text", ["e.g. the report", "i.e. soon", "v1.2 is out", "see report.pdf attached",
                                  "Node.js and U.S.A.", "notes.txt", "co.uk alone is no site"])
def test_abbreviations_versions_and_file_names_are_not_links(text):
    assert find_links(text) == ([], [])


def test_the_suffix_list_is_read_offline():
    """The guard's first use loads the list shipped in the wheel: no DNS, no connection."""
    code = ("import sys\n"
            "def hook(event, args):\n"
            "    if event.startswith(('socket.', 'urllib.')):\n"
            "        raise SystemExit('network: ' + event)\n"
            "sys.addaudithook(hook)\n"
            "from fsl.llm.guards import find_links\n"
            "assert find_links('see acme.agency/deal')[0] == ['acme.agency/deal']\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
