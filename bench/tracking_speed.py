"""What tracking adds to each email's hand-over, measured side by side in one run.

Per message, on the same rendered messages: the render itself (the baseline
a send always pays), the tracking rewrite (fsl.delivery.tracking.track:
Markdown to HTML, links wrapped and signed, trap, pixel, headers), and
keeping its links (fsl.signals.handover.remember: one SQLite write
transaction before the hand-over), and the verdict on a hit
(fsl.signals.machine.classify with the shipped lists).  Prints microseconds
per message and each as a ratio to the render.

    python bench/tracking_speed.py [--messages 2000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fsl.delivery.message import OutMessage  # noqa: E402
from fsl.delivery.tracking import track  # noqa: E402
from fsl.signals import machine  # noqa: E402
from fsl.signals.handover import TokenTracker, remember  # noqa: E402
from fsl.store import open_store  # noqa: E402
from fsl.templates import parse_template, render_template  # noqa: E402

TEMPLATE = """---
subject: "Next steps for {{ contact.first_name }}"
links:
  pricing: "https://acme.example/pricing?plan=pro"
  case_study: "https://acme.example/cases/northwind"
---
Hi {{ contact.first_name }},

thanks for the call. Our [pricing]({{ links.pricing }}) and how Northwind did it:
{{ links.case_study }}. Your page: https://app.acme.example/welcome?who={{ contact.id }}

Not interested? {{ unsubscribe_url }}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    n = parser.parse_args().messages
    template = parse_template(TEMPLATE, Path("recap.md"))
    tracker = TokenTracker("https://t.acme.example", "bench-secret-0123456789abcdef", "replies@acme.example")
    keys = [f"{i}:recap:0:0" for i in range(n)]

    started = time.perf_counter()
    rendered = [render_template(template, {"contact": {"first_name": f"User{i}", "id": f"c{i}"},
                                           "unsubscribe_url": tracker.unsubscribe_url(k)})
                for i, k in enumerate(keys)]
    render_s = time.perf_counter() - started
    messages = [OutMessage(k, "email", "send", f"u{i}@example.com", r.subject, r.text)
                for i, (k, r) in enumerate(zip(keys, rendered))]

    started = time.perf_counter()
    tracked = [track(m, tracker, template.links) for m in messages]
    track_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as folder:
        db = open_store(f"sqlite:///{folder}/bench.db")
        try:
            started = time.perf_counter()
            for t in tracked:
                remember(db, t, int(time.time() * 1000))
            remember_s = time.perf_counter() - started
        finally:
            db.dispose()

    rules = machine.Rules(lists=machine.load_lists())
    hits = [machine.Hit("click", i % 3, 10**9 + i, f"81.2.{i % 250}.{i % 200 + 1}",
                        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Safari/605.1.15") for i in range(n)]
    facts = machine.Message(10**9 - 3_600_000, 3)
    started = time.perf_counter()
    for h in hits:
        machine.classify(h, facts, [], rules)
    classify_s = time.perf_counter() - started

    per = {"render": render_s, "track (rewrite)": track_s, "remember (SQLite write)": remember_s,
           "classify a hit": classify_s}
    print(f"{n} messages, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    for name, seconds in per.items():
        print(f"  {name:26s} {seconds / n * 1e6:8.1f} us/message   x{seconds / render_s:5.2f} of the render")


if __name__ == "__main__":
    main()
