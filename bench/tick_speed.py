"""How fast is a production tick on the embedded SQLite store?

    python bench/tick_speed.py [--total 1000000] [--due 100000] [--batch 500] [--delivery auto]

Builds a store with TOTAL enrollments (contacts and enrollments written with
executemany, not through the engine), DUE of them due now, the rest waiting
days ahead, then measures in one run:

* an idle tick (nothing due) as the number of waiting enrollments grows
  from 10k to TOTAL -- it must stay flat (target < 50 ms);
* one tick that executes the DUE steps: the engine on SQL batches, template
  rendering and a recording channel (step executions per second, target
  >= 10,000 for the whole tick; the engine phase -- claim, prefetch, decide,
  write back, commit -- and the delivery -- render, hand over, settle --
  separately).  With `--delivery auto` (the default, what `fsl tick` does)
  a tick this large delivers from a delivery process of its own, pipelined
  with the engine (fsl/runtime/delivery_process.py): the delivery figures are
  then that process's, and "waited" is what the tick spent waiting for it;
  `--delivery inline` measures the in-process delivery (the engine and the
  delivery one after the other, batch by batch);
* the engine alone: the same tick without delivery (`deliver=False`) on a
  copy of the store taken just before, so that the whole tick can be compared
  with it on the machine as it is during this run (skip: --no-reference);
* the same rows written with raw sqlite3 executemany (the ceiling), and the
  tick's ratio to it;
* peak memory of the measuring process, and of the delivery process if any
  (target < 300 MB each); the store is generated in a child process so that
  its memory does not count.
"""
from __future__ import annotations

import argparse
import atexit
import multiprocessing as mp
import os
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recorder import Recorder  # noqa: E402 - importable by name: the delivery process gets a copy

UTC = timezone.utc
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday afternoon
PLAYBOOK = """\
playbook nurture:
    enroll on signed_up
    timezone contact.timezone default "UTC"
    cap email 3 per 7 days
    stop on replied
    stop on unsubscribed

    step welcome:
        send email "welcome"

    step checkin after 3 days:
        if opened(welcome):
            send email "checkin"
        else:
            task call "Call {{ contact.first_name }}"
"""
TEMPLATE = """\
---
subject: "Welcome, {{ contact.first_name }}"
---
Hi {{ contact.first_name }},

thanks for signing up with {{ contact.company }}. {% if contact.tier == "A" %}Your account manager will call you this week.{% else %}Here is how to get started.{% endif %}

The Acme team
"""
CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: "{url}"
timezone: UTC
schema:
  contact:
    first_name: string
    company: string
    tier: {{enum: [A, B, C]}}
events:
  signed_up: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: 9, from: "Acme <hello@acme.example>"}}
"""
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]


def make_project(folder: Path) -> Path:
    (folder / "sequences").mkdir(parents=True)
    (folder / "templates").mkdir()
    (folder / "sequences" / "nurture.fsl").write_text(PLAYBOOK)
    (folder / "templates" / "welcome.md").write_text(TEMPLATE)
    (folder / "templates" / "checkin.md").write_text(TEMPLATE.replace("Welcome", "Checking in"))
    (folder / "fsl.yaml").write_text(CONFIG.format(url=f"sqlite:///{folder / 'fsl.db'}"))
    return folder / "fsl.yaml"


# ---------------------------------------------------------------- generation (child process)

def generate(config_path: str, start: int, stop: int, due: int) -> None:
    """Contacts and enrollments start..stop-1; the first `due` of all are due at NOW."""
    from fsl.runtime.runtime import Runtime
    from fsl.engine.model import Enrollment
    from fsl.store import rows as R
    from fsl.store.codec import dumps, epoch
    from fsl.store.schema import contacts, enrollments

    rt = Runtime.open(config_path)
    engine = rt.engine()
    prog = engine.programs["nurture"]
    started = NOW - timedelta(days=1)
    later = NOW + timedelta(days=2)
    chunk = 20_000
    for lo in range(start, stop, chunk):
        hi = min(stop, lo + chunk)
        crow, erow = [], []
        for i in range(lo, hi):
            cid = f"c{i:07d}"
            crow.append({"id": cid, "fields": dumps({"id": cid, "email": f"u{i}@example.com",
                                                     "first_name": f"User{i}", "company": f"Company {i % 977}",
                                                     "tier": "ABC"[i % 3], "timezone": ZONES[i % 4]}),
                         "version": 0, "updated_at": epoch(started)})
            en = Enrollment(i + 1, "nurture", prog.hash, cid, None, started_at=started, anchor=started,
                            due_at=NOW if i < due else later)
            erow.append(R.enrollment_row(en, NOW if i < due else later + timedelta(minutes=i % 1440), -prog.priority))
        with rt.db.write() as conn:
            conn.execute(contacts.insert(), crow)
            conn.execute(enrollments.insert(), erow)
    rt.close()


def run_child(*args) -> None:
    p = mp.get_context("spawn").Process(target=generate, args=args)
    p.start()
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"generation failed ({p.exitcode})")


# ---------------------------------------------------------------- raw ceiling

def raw_ceiling(db_path: Path, steps: int, journal_rows: int, batch: int) -> float:
    """The tick's row writes as raw sqlite3 executemany, same batches, same indexes."""
    import sqlalchemy as sa

    from fsl.store.schema import metadata

    engine = sa.create_engine(f"sqlite:///{db_path}")
    metadata.create_all(engine)
    engine.dispose()
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    state = '{"step":1,"resume":null,"repeat":0,"runs":{"welcome":1},"anchor":{"$t":"2026-11-23T15:00:00+00:00"}}'
    con.execute("BEGIN")
    con.executemany("INSERT INTO enrollments (id, playbook, plan_hash, contact, status, rank, wake_at, started_at, state)"
                    " VALUES (?, 'nurture', 'h', ?, 'active', -50, 1, 1, ?)",
                    [(i + 1, f"c{i:07d}", state) for i in range(steps)])
    con.execute("COMMIT")
    per_step = max(1, journal_rows // max(steps, 1))
    t0 = time.perf_counter()
    for lo in range(0, steps, batch):
        ids = range(lo + 1, min(steps, lo + batch) + 1)
        con.execute("BEGIN IMMEDIATE")
        con.executemany("UPDATE enrollments SET status='active', rank=-50, wake_at=?, state=? WHERE id=?",
                        [(1800000000, state, i) for i in ids])
        con.executemany("INSERT INTO actions (key, enrollment, contact, playbook, step, kind, channel, template, at,"
                        " line, payload, status, attempts, next_attempt_at) VALUES"
                        " (?, ?, ?, 'nurture', 'welcome', 'send', 'email', 'welcome', 1, 9, '{}', 'pending', 0, 1)",
                        [(f"{i}:welcome:0:0", i, f"c{i:07d}") for i in ids])
        con.executemany("INSERT INTO journal (enrollment, contact, playbook, step, at, kind, reason, line)"
                        " VALUES (?, ?, 'nurture', 'welcome', 1, 'executed', 'step welcome: 1 action(s)', 9)",
                        [(i, f"c{i:07d}") for i in ids for _ in range(per_step)])
        con.execute("COMMIT")
    for lo in range(0, steps, 200):  # the outbox: claim, then settle
        keys = [(f"{i}:welcome:0:0",) for i in range(lo + 1, min(steps, lo + 200) + 1)]
        con.execute("BEGIN IMMEDIATE")
        con.executemany("UPDATE actions SET status='sending', claimed_by='x', attempts=attempts+1 WHERE key=?", keys)
        con.execute("COMMIT")
        con.execute("BEGIN IMMEDIATE")
        con.executemany("UPDATE actions SET status='delivered', delivered_at=1, claimed_by=NULL WHERE key=?", keys)
        con.execute("COMMIT")
    seconds = time.perf_counter() - t0
    con.close()
    return seconds


# ---------------------------------------------------------------- measuring

def idle_tick_ms(rt, now: datetime, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rep = rt.tick(now)
        times.append((time.perf_counter() - t0) * 1000)
        assert rep.steps == 0, "the idle tick found work"
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total", type=int, default=1_000_000)
    ap.add_argument("--due", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--dir", type=Path, default=None, help="where to build the store (default: a temp folder)")
    ap.add_argument("--delivery", choices=("auto", "inline", "process"), default="auto",
                    help="where the big tick delivers (Runtime(delivery=...))")
    ap.add_argument("--no-reference", action="store_true", help="skip the engine-alone tick on a copy of the store")
    args = ap.parse_args()

    from fsl.runtime.runtime import Runtime
    from fsl.store import plans as registry
    from fsl.store.codec import epoch

    folder = Path(tempfile.mkdtemp(prefix="fsl-bench-", dir=args.dir))
    if args.dir is None:  # the store is about 1 GB: gone when the run ends, however it ends
        atexit.register(shutil.rmtree, folder, True)
    config_path = make_project(folder)
    rt = Runtime.open(config_path, batch_size=args.batch, delivery=args.delivery)
    from fsl.api import compile_project
    from fsl.project import Project

    plans = compile_project([folder / "sequences"], Project.load(config_path)).plans
    with rt.db.write() as conn:
        for plan in plans:
            registry.register(conn, plan, "nurture.fsl", PLAYBOOK, epoch(NOW))
            registry.set_current(conn, plan, epoch(NOW))
        registry.set_meta(conn, "clock", str(epoch(NOW - timedelta(hours=2))))
    recorder = Recorder(folder / "recorded.txt")
    rt.adapters = {"email": recorder}
    rt.engine()
    print(f"store: {folder / 'fsl.db'}; {args.total:,} enrollments, {args.due:,} due; batch {args.batch}")

    # 1. idle ticks while the waiting enrollments grow (the due ones come last)
    waiting = args.total - args.due
    idle_at = NOW - timedelta(hours=1)
    marks = [m for m in (10_000, 100_000, waiting) if m <= waiting]
    made, idle = 0, []
    for mark in marks:
        t0 = time.perf_counter()
        run_child(str(config_path), args.due + made, args.due + mark, 0)
        gen = time.perf_counter() - t0
        made = mark
        ms = idle_tick_ms(rt, idle_at)
        idle.append((mark, ms))
        print(f"  idle tick with {mark:>9,} waiting: {ms:6.1f} ms   (generated in {gen:.1f}s)")
    run_child(str(config_path), 0, args.due, args.due)
    ms = idle_tick_ms(rt, idle_at)
    idle.append((args.total, ms))
    print(f"  idle tick with {args.total:>9,} enrollments ({args.due:,} due later today): {ms:6.1f} ms")

    # 2. the big tick (and a copy of the store for the engine-alone reference)
    if not args.no_reference:
        src, dst = sqlite3.connect(folder / "fsl.db"), sqlite3.connect(folder / "reference.db")
        src.backup(dst)  # a consistent copy, WAL included
        src.close(), dst.close()
    # The generation and the copy leave hundreds of MB of dirty pages that the
    # kernel would write back during the measured tick: scaffolding, not the
    # tick's work -- written out before the clock starts.
    os.sync()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    rep = rt.tick(NOW)
    total = time.perf_counter() - t0
    total_cpu = time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with rt.db.read() as conn:
        import sqlalchemy as sa

        from fsl.store.schema import journal

        journal_rows = conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar()
    steps = rep.steps
    recorded = recorder.keys()
    once = "each once" if set(recorded.values()) == {1} else f"{sum(recorded.values()):,} hand-overs"
    print(f"\ntick at {NOW:%Y-%m-%dT%H:%MZ}: {steps:,} step executions, {rep.actions}, "
          f"{rep.delivered:,} delivered ({len(recorded):,} keys recorded by the channel, {once}), "
          f"{journal_rows:,} journal rows")
    dp = rep.delivery_process or {}
    inline = rep.delivered - dp.get("handed_over", 0)
    print(f"  engine phase (select, prefetch, run, write back): {rep.engine_seconds:7.2f} s  "
          f"= {steps / rep.engine_seconds:9,.0f} steps/s")
    if dp.get("ready"):
        print(f"  delivery in this process ({inline:,} messages rendered before the delivery process took over; "
              f"keys handed to it, waits for it): {rep.deliver_seconds:.2f} s")
        print(f"  delivery process (load, render, hand over {dp['handed_over']:,} messages; the tick's batches "
              f"settle them): {dp['seconds']:.2f} s busy = {dp['handed_over'] / max(dp['seconds'], 1e-9):,.0f} "
              f"messages/s; {dp['cpu']:.2f} s CPU; the tick waited {dp['waited']:.2f} s for it")
    else:
        why = f" ({dp.get('why') or dp.get('error')})" if dp else ""
        print(f"  delivery (render, hand over, settle), in-process{why}: {rep.deliver_seconds:7.2f} s  "
              f"= {rep.delivered / max(rep.deliver_seconds, 1e-9):9,.0f} messages/s")
    print(f"  whole tick:                                       {total:7.2f} s  = {steps / total:9,.0f} steps/s "
          f"(target >= 10,000)")
    print(f"  whole tick, CPU time of this process:             {total_cpu:7.2f} s  = {steps / total_cpu:9,.0f} steps/s "
          "(steadier than wall time on a shared machine)")
    if dp.get("ready"):
        both = total_cpu + dp["cpu"]
        print(f"  whole tick, CPU time of both processes:           {both:7.2f} s  = {steps / both:9,.0f} steps/s "
              "(the work, whichever core did it)")
    print(f"  peak memory of this process: {rss:.0f} MB (before the tick {rss_before:.0f} MB; target < 300 MB)")
    if dp.get("peak_mb"):
        print(f"  peak memory of the delivery process: {dp['peak_mb']:.0f} MB")

    # 3. the engine alone, on the copy
    if not args.no_reference:
        ref = Runtime.open(config_path, store_url=f"sqlite:///{folder / 'reference.db'}", batch_size=args.batch)
        ref.engine()
        t0 = time.perf_counter()
        alone = ref.tick(NOW, deliver=False)
        engine_alone = time.perf_counter() - t0
        ref.close()
        (folder / "reference.db").unlink()
        print(f"  the engine alone (the same tick without delivery, on a copy of the store): {engine_alone:.2f} s  "
              f"= {alone.steps / engine_alone:,.0f} steps/s; the whole tick runs at "
              f"{engine_alone / total * alone.steps / max(steps, 1):.0%} of that")

    # 4. the ceiling
    raw = raw_ceiling(folder / "raw.db", steps, journal_rows, args.batch)
    print(f"\nraw sqlite3 executemany of the same row writes: {raw:.2f} s "
          f"({steps / raw:,.0f} steps/s); the tick takes {total / raw:.1f}x that")
    flat = max(ms for _, ms in idle) / max(min(ms for _, ms in idle), 1e-9)
    print(f"\nsummary: {steps / total:,.0f} steps/s end to end, {steps / rep.engine_seconds:,.0f} steps/s engine; "
          f"idle tick {idle[0][1]:.1f} ms at {idle[0][0]:,} -> {idle[-1][1]:.1f} ms at {idle[-1][0]:,} "
          f"(x{flat:.2f}); peak {rss:.0f} MB"
          + (f" (delivery process {dp['peak_mb']:.0f} MB)" if dp.get("peak_mb") else "")
          + f"; {total / raw:.1f}x raw executemany")
    rt.close()


if __name__ == "__main__":
    main()
