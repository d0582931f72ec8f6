"""Engine throughput: N contacts through sequences/post_meeting.fsl.

Builds everything in memory through the Python API (no scenario file): the
project and the playbook are compiled as `fsl simulate` does, then N contacts,
each the main contact of one deal (a few deals are already in negotiation and
are not enrolled), and one `meeting_ended` per contact at a random working
hour of the first ten days.  The engine runs on its virtual clock for D days,
one simulated hour at a time; after each hour the messages just sent draw
seeded random engagement, ingested as events at their own (future) instants:
opens, clicks on the check-in's case study or pricing, forwards, human and
out-of-office replies, a few bounces, unsubscribes and booked meetings.  So
the stop, pause and branch rules all see real traffic, as in production.

Reported: the step executions (the journal's `executed` entries: each step,
and each resumed part of a step after a wait), actions, events, outcomes, the
wall time of the build, of the run and of the whole thing, step executions per
second of engine time (run_until and ingest; the bench's own engagement
draws excluded) and over the whole run, and the peak memory (ru_maxrss;
--tracemalloc adds the Python heap's peak, at a large cost in speed).

    python bench/simulate_speed.py [--contacts 10000] [--days 30] [--seed 7]
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fsl.api import compile_project  # noqa: E402
from fsl.project import Project  # noqa: E402
from fsl.engine.engine import Engine  # noqa: E402
from fsl.engine.model import ENDED, ActionRecord, Contact, Deal, Event  # noqa: E402
from fsl.engine.memstore import MemoryStore  # noqa: E402

UTC = timezone.utc
SEQUENCES = ROOT / "sequences"
PLAYBOOK = SEQUENCES / "post_meeting.fsl"
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; Thanksgiving falls inside

ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
         "Europe/London", "Europe/Berlin", "Asia/Shanghai", "Australia/Sydney", None]
SENIORITY = ["c_suite", "vp", "manager", "ic"]
STAGES = ["discovery", "demo", "demo", "proposal", "proposal", "negotiation"]


class BenchStore(MemoryStore):
    """The memory store, plus the list of sends made since the last look."""

    def __init__(self) -> None:
        super().__init__()
        self.fresh: list[ActionRecord] = []

    def add_action(self, rec: ActionRecord) -> None:
        super().add_action(rec)
        if rec.kind == "send":
            self.fresh.append(rec)


def compile_playbook():
    project = Project.load(SEQUENCES / "fsl.yaml", SEQUENCES)
    if project.config_diags:
        raise SystemExit(f"{SEQUENCES / 'fsl.yaml'} has errors")
    result = compile_project([PLAYBOOK], project)
    if result.check.errors:
        raise SystemExit(f"{PLAYBOOK} does not compile: {result.check.errors[0]}")
    return result.plans, project.config


def build(engine: Engine, n: int, rng: random.Random) -> int:
    """N contacts and deals, and one meeting_ended each; returns the events."""
    for i in range(n):
        cid, did = f"c{i:06d}", f"d{i:06d}"
        zone = rng.choice(ZONES)
        fields = {"id": cid, "email": f"{cid}@example.com", "first_name": f"Name{i}",
                  "last_name": f"Last{i}", "company": f"Company {i}", "seniority": rng.choice(SENIORITY),
                  "tier": rng.choice("ABC"), "status": "prospect", "ltv": 0, "owner": f"rep{i % 40}",
                  "owner_manager": f"manager{i % 5}" if rng.random() < 0.8 else None}
        if zone is not None:
            fields["timezone"] = zone
        engine.add_contact(Contact(cid, fields))
        engine.add_deal(Deal(did, {"id": did, "name": f"Deal {i}", "stage": rng.choice(STAGES),
                                   "amount": rng.randrange(5_000, 150_000, 500),
                                   "pain_point": rng.choice([None, "manual reporting", "slow onboarding"])},
                             {cid: {"role": "economic", "attended": True, "primary": True}}))
        # a meeting ends at a working hour (UTC 13:00-22:00) of the first ten days
        at = START + timedelta(days=rng.randrange(10), hours=rng.randrange(13, 22), minutes=rng.randrange(60))
        engine.ingest(Event(at, "meeting_ended", cid, did))
    return n


def engagement(rec: ActionRecord, rng: random.Random, not_before: datetime) -> list[Event]:
    """What a contact does with one message (seeded)."""
    out: list[Event] = []

    def ev(delay_h: float, type_: str, **fields) -> None:
        at = max(rec.at + timedelta(hours=delay_h), not_before)
        out.append(Event(at.replace(second=0, microsecond=0), type_, rec.contact, rec.deal, rec.step, fields))

    r = rng.random()
    if r < 0.01:
        ev(0.1, "bounced")
        return out
    if r < 0.015:
        ev(rng.uniform(1, 48), "unsubscribed")
        return out
    if rng.random() < 0.45:
        t = rng.uniform(1, 48)
        ev(t, "opened")
        if rec.step == "checkin" and rng.random() < 0.3:
            ev(t + rng.uniform(0, 2), "clicked", link=rng.choice(["case_study", "case_study", "pricing"]))
        if rng.random() < 0.05:
            ev(t + rng.uniform(0, 24), "forwarded")
        r = rng.random()
        if r < 0.06:
            ev(t + rng.uniform(0, 24), "replied", kind="human")
        elif r < 0.08:
            back = (rec.at + timedelta(days=rng.randint(3, 10))).date()
            ev(t, "replied", kind="out_of_office", return_date=back if rng.random() < 0.7 else None)
        elif r < 0.09:
            ev(t + rng.uniform(1, 72), "meeting_booked")
    return out


def run(n: int, days: int, seed: int, chunk_hours: int) -> dict:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    plans, config = compile_playbook()
    store = BenchStore()
    engine = Engine(plans, config, store)
    build(engine, n, rng)
    t1 = time.perf_counter()

    until = START + timedelta(days=days)
    engine.start(START)
    events = n
    clock = START
    step = timedelta(hours=chunk_hours)
    engine_s = engine_cpu = 0.0
    while clock < until:
        clock = min(clock + step, until)
        ta, ca = time.perf_counter(), time.process_time()
        engine.run_until(clock, inclusive=False)
        engine_s += time.perf_counter() - ta
        engine_cpu += time.process_time() - ca
        fresh, store.fresh = store.fresh, []
        for rec in fresh:
            for e in engagement(rec, rng, clock):
                if e.at < until:
                    ta, ca = time.perf_counter(), time.process_time()
                    engine.ingest(e)
                    engine_s += time.perf_counter() - ta
                    engine_cpu += time.process_time() - ca
                    events += 1
    t2 = time.perf_counter()

    executed = sum(1 for j in store.journal_entries() if j.kind == "executed")
    actions = Counter(a.kind for a in store.actions() if a.kind in ("send", "task", "notify"))
    outcomes = Counter(e.outcome if e.status == ENDED else "active" for e in store.enrollments())
    t3 = time.perf_counter()
    return {"build_s": t1 - t0, "run_s": t2 - t1, "engine_s": engine_s, "engine_cpu": engine_cpu, "total_s": t3 - t0, "executed": executed,
            "actions": actions, "events": events, "outcomes": outcomes,
            "enrollments": sum(outcomes.values()), "warnings": len(engine.warnings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contacts", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk-hours", type=int, default=1, help="simulated hours between engagement draws")
    ap.add_argument("--tracemalloc", action="store_true", help="also report the Python heap's peak (slow)")
    args = ap.parse_args()
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start()
    r = run(args.contacts, args.days, args.seed, args.chunk_hours)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rate = r["executed"] / r["engine_s"] if r["engine_s"] else float("inf")
    rate_run = r["executed"] / r["run_s"] if r["run_s"] else float("inf")
    print(f"post_meeting: {args.contacts} contacts, {args.days} simulated days, seed {args.seed}")
    print(f"  enrollments       {r['enrollments']}")
    print(f"  events ingested   {r['events']} (warnings: {r['warnings']})")
    print(f"  step executions   {r['executed']}")
    print("  actions           " + ", ".join(f"{k} {v}" for k, v in sorted(r["actions"].items())))
    print("  outcomes          " + ", ".join(f"{k} {v}" for k, v in r["outcomes"].most_common()))
    print(f"  build             {r['build_s']:.2f} s (compile, contacts, deals, meetings)")
    print(f"  run               {r['run_s']:.2f} s (engine {r['engine_s']:.2f} s, the rest is drawing engagement)")
    print(f"  total             {r['total_s']:.2f} s (build, run, counting)")
    print(f"  throughput        {rate:,.0f} step executions/s of engine time (target >= 20,000); "
          f"{rate_run:,.0f}/s over the whole run")
    cpu = r["engine_cpu"]
    print(f"  engine CPU time   {cpu:.2f} s = {r['executed'] / cpu if cpu else float('inf'):,.0f} step executions/s "
          "of process CPU time (steadier than wall time on a shared machine)")
    print(f"  peak memory       {rss_mb:,.0f} MiB (ru_maxrss)")
    if args.tracemalloc:
        import tracemalloc

        _, peak = tracemalloc.get_traced_memory()
        print(f"  Python heap peak  {peak / 2**20:,.0f} MiB (tracemalloc; timings above are slowed by it)")


if __name__ == "__main__":
    main()
