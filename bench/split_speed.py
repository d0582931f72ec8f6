"""What `pick winner by` costs a simulation: the same scenario with the split
deciding its winner and with fixed shares, side by side in one run.

N contacts enroll over four weeks, a few a minute-instant; half the `question`
sends get a human reply, a tenth of the `plain` ones.  The test runs once per
split and instant until it decides, over every send of the step, so its cost
grows with the sends before the decision.

    python bench/split_speed.py [--contacts 2000] [--repeat 3] [--aa]

--aa: both variants get replies one time in five, so the test never decides
and runs at every instant that reaches the split (its worst case).
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone

from fsl.compiler import compile_module
from fsl.engine.engine import Engine
from fsl.engine.experiments import bucket
from fsl.engine.memstore import MemoryStore
from fsl.engine.model import Contact, Event
from fsl.syntax.parser import parse_module

PLAYBOOK = """playbook ab:
    enroll on meeting_ended
    timezone "UTC"
    step opener:
        split subject_test{pick}:
            variant plain 50%:
                send email "recap"
            variant question 50%:
                send email "short_angle"
"""
T0 = datetime(2026, 11, 2, tzinfo=timezone.utc)


def run(n: int, pick: bool, aa: bool = False) -> tuple[float, int]:
    text = PLAYBOOK.format(pick=" pick winner by replied within 2 days" if pick else "")
    plans = compile_module(parse_module(text, "ab.fsl")[0])
    engine = Engine(plans, None, MemoryStore())
    rng = random.Random(7)
    for i in range(n):
        cid = f"c{i}"
        engine.add_contact(Contact(cid, {"id": cid, "email": f"{cid}@example.com"}))
        at = T0 + timedelta(minutes=20 * i * 2000 // n)
        engine.ingest(Event(at, "meeting_ended", cid))
        rate = 0.2 if aa else (0.5 if bucket(cid, "ab", "subject_test") >= 5000 else 0.1)
        if rng.random() < rate:
            engine.ingest(Event(at + timedelta(hours=5), "replied", cid, step="opener", fields={"kind": "human"}))
    start = time.perf_counter()
    engine.start(T0)
    engine.run_until(T0 + timedelta(days=40))
    return time.perf_counter() - start, len(engine.store.split_decisions())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--aa", action="store_true", help="no real difference: the test never decides")
    a = ap.parse_args()
    fixed = min(run(a.contacts, False, a.aa)[0] for _ in range(a.repeat))
    picked, decided = min(run(a.contacts, True, a.aa) for _ in range(a.repeat))
    print(f"{a.contacts} contacts: fixed shares {fixed:.3f} s, pick winner by {picked:.3f} s "
          f"(decided: {decided}), ratio {picked / fixed:.2f}")


if __name__ == "__main__":
    main()
