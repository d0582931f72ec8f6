"""The inbox classifier against a corpus of real bounces and automatic replies (SIGNALS.md 3).

The corpus (tests/fixtures/inbox/corpus/, see its README) holds real-world
DSNs and RFC 3834 replies from sisimai's public set and messages written
after vendors' documented formats in seven languages.  The test measures:
at least 98% of labels right and 95% of return dates exact, and prints the
confusion table (`pytest -s` shows it)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fsl.inbox.classify import classify
from fsl.inbox.mail import read_mail

CORPUS = Path(__file__).parent / "fixtures" / "inbox" / "corpus"


def _run() -> list[tuple[dict, str, str | None]]:
    out = []
    for entry in json.loads((CORPUS / "labels.json").read_text(encoding="utf-8")):
        mail = read_mail((CORPUS / entry["file"]).read_bytes())
        got = classify(mail, recipients=frozenset(entry.get("recipients", ())),
                       own=frozenset({"replies@acme.example"}), zone=entry.get("zone", "UTC"))
        out.append((entry, got.label, got.return_date.isoformat() if got.return_date else None))
    return out


def confusion(results: list[tuple[dict, str, str | None]]) -> str:
    labels = sorted({e["label"] for e, _, _ in results} | {g for _, g, _ in results})
    counts = Counter((e["label"], g) for e, g, _ in results)
    width = max(len(x) for x in labels) + 1
    lines = ["expected \\ got".ljust(width) + " ".join(x[:9].rjust(9) for x in labels)]
    for row in labels:
        lines.append(row.ljust(width) + " ".join(str(counts[(row, col)] or ".").rjust(9) for col in labels))
    return "\n".join(lines)


def test_the_corpus_is_classified_as_labelled():
    results = _run()
    wrong = [(e["file"], e["label"], g) for e, g, _ in results if e["label"] != g]
    print("\n" + confusion(results))
    print(f"labels: {len(results) - len(wrong)}/{len(results)} right; wrong: {wrong}")
    dated = [(e, d) for e, g, d in results if e["label"] == "out_of_office"]
    bad_dates = [(e["file"], e.get("return_date"), d) for e, d in dated if e.get("return_date") != d]
    print(f"return dates: {len(dated) - len(bad_dates)}/{len(dated)} exact; wrong: {bad_dates}")
    assert len(results) >= 200
    assert {e["label"] for e, _, _ in results} >= {"bounced/hard", "bounced/soft", "out_of_office", "auto_reply",
                                                    "unsubscribe_request", "forwarded", "replied+forwarded", "human"}
    assert (len(results) - len(wrong)) / len(results) >= 0.98, wrong
    assert (len(dated) - len(bad_dates)) / len(dated) >= 0.95, bad_dates


def test_a_phrase_two_patterns_find_is_read_by_dateparser_once(monkeypatch):
    """dateparser is most of the classifier's time: "out of the office until X" and "until X"
    are one phrase, read once per message."""
    from datetime import datetime

    import dateparser

    from fsl.inbox import dates

    read: list[str] = []
    real = dateparser.parse
    monkeypatch.setattr(dates.dateparser, "parse", lambda text, *a, **k: read.append(text) or real(text, *a, **k))
    back, _ = dates.return_date("I am out of the office until Monday, December 14, 2026.", datetime(2026, 11, 23, 16))
    assert str(back) == "2026-12-14"
    assert len(read) == len(set(read)) == 1
