"""The contact's own holidays (`skip holidays contact.country default "US"`)
against one fixed calendar (`skip holidays "US"`), side by side in one run.

N contacts spread over C country values (a few not known codes, some none)
are enrolled at one instant; the playbook has a window, business-day steps
and a holiday-heavy season, so every due time consults the calendar.  The
calendars are cached per (country, subdivision, year) and per value, so the
per-contact form should cost about the same as the fixed one.

    python bench/holidays_speed.py [--contacts 5000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta, timezone

from fsl.compiler import compile_module
from fsl.engine.engine import Engine
from fsl.engine.model import Contact, Event
from fsl.syntax.parser import parse_module

COUNTRIES = ["US", "DE", "FR", "GB", "ES", "IT", "NL", "BE", "PL", "SE", "NO", "DK", "FI", "IE", "PT", "AT",
             "CH", "CA", "AU", "NZ", "JP", "BR", "MX", "AR", "IN", "US-CA", "US-NY", "DE-BY", "ES-MD",
             "Atlantis", "", None]

PLAYBOOK = """playbook p:
    enroll on meeting_ended
    timezone "UTC"
    window weekdays 09:00-17:00
    skip holidays {holidays}
    step a:
        task call "a"
    step b after 3 business days:
        task call "b"
    step c after 10 business days:
        task call "c"
"""


def run(holidays: str, contacts: int) -> float:
    module, diags = parse_module(PLAYBOOK.format(holidays=holidays), "p.fsl")
    assert not diags, diags
    engine = Engine(compile_module(module))
    start = datetime(2026, 12, 20, tzinfo=timezone.utc)
    for i in range(contacts):
        engine.add_contact(Contact(f"c{i}", {"country": COUNTRIES[i % len(COUNTRIES)], "owner": "rep"}))
    t0 = time.perf_counter()
    engine.start(start)
    for i in range(contacts):
        engine.ingest(Event(start, "meeting_ended", f"c{i}"))
    engine.run_until(start + timedelta(days=40))
    elapsed = time.perf_counter() - t0
    assert sum(1 for a in engine.store.actions() if a.kind == "task") == 3 * contacts
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    fixed = min(run('"US"', a.contacts) for _ in range(a.repeat))
    own = min(run('contact.country default "US"', a.contacts) for _ in range(a.repeat))
    print(f"{a.contacts} contacts, {len(COUNTRIES)} country values, best of {a.repeat}")
    print(f"  skip holidays \"US\"                          {fixed:7.2f} s  {a.contacts / fixed:9.0f} contacts/s")
    print(f"  skip holidays contact.country default \"US\"  {own:7.2f} s  {a.contacts / own:9.0f} contacts/s")
    print(f"  ratio (per contact / fixed): {own / fixed:.2f}")


if __name__ == "__main__":
    main()
