"""How long does a segment over many contacts take, with and without SQL?

    python bench/segment_speed.py [--contacts 1000000] [--match 0.01]

A playbook `enroll when contact.tier == "A" and contact.score > 5 check
cron "0 9 * * *"` in each contact's own zone (six zones), over CONTACTS
contacts of which about MATCH have tier A (and half of those score > 5).
Measured side by side in one run, each in its own process (peak memory is
that process's own):

* deploy: the first check of every contact -- with segments in SQL
  (INSERT ... SELECT per zone) and with the engine alone (contact by
  contact);
* the tick over the next 24 hours, which looks at every contact once, at
  09:00 in its zone -- with the SQL pass-over (the contacts that cannot
  match move on in SQL, the engine looks at the rest) and without (the
  engine loads and evaluates every contact).  Both must enroll the same
  contacts.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UTC = timezone.utc
START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"]
PLAYBOOK = """\
playbook vip_call:
    enroll when contact.tier == "A" and contact.score > 5 check cron "0 9 * * *"
    timezone contact.timezone default "UTC"
    reenroll never
    step call:
        task call "Call {{ contact.first_name }}"
"""
CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: "sqlite:///{db}"
timezone: UTC
schema:
  contact:
    first_name: string
    tier: string
    score: number
channels:
  call: {{adapter: task}}
"""


def _project(folder: Path) -> Path:
    (folder / "sequences").mkdir(parents=True)
    (folder / "templates").mkdir()
    (folder / "sequences" / "vip.fsl").write_text(PLAYBOOK)
    config = folder / "fsl.yaml"
    config.write_text(CONFIG.format(db=folder / "fsl.db"))
    return config


def _populate(config: Path, n: int, match: float) -> None:
    from fsl.ops.runtime import Runtime

    Runtime.open(config).close()  # creates the schema
    rng = random.Random(5)
    rows = []
    for i in range(n):
        fields = {"id": f"c{i:07d}", "first_name": f"P{i}", "timezone": rng.choice(ZONES),
                  "tier": "A" if rng.random() < match else rng.choice("BC"), "score": rng.randrange(11)}
        rows.append((fields["id"], json.dumps(fields, separators=(",", ":")), 0))
    with sqlite3.connect(config.parent / "fsl.db") as conn:
        conn.executemany("INSERT INTO contacts (id, fields, version) VALUES (?, ?, ?)", rows)


def _measure(kind: str, config: str, sql: bool, out) -> None:
    from fsl.ops.deploy import deploy
    from fsl.ops.runtime import Runtime

    rt = Runtime.open(Path(config))
    rt.store.segment_sql = sql
    t0 = time.perf_counter()
    if kind == "deploy":
        report = deploy(rt, [], now=START)
        figures = {"checks": report.checks}
    else:
        report = rt.tick(START + timedelta(hours=24), deliver=False)
        with rt.db.read() as conn:
            enrolled = conn.exec_driver_sql("SELECT count(*) FROM enrollments").scalar()
        figures = {"engine": report.checks, "sql": report.checks_in_sql, "enrolled": enrolled}
    figures["seconds"] = time.perf_counter() - t0
    figures["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rt.close()
    out.put(figures)


def _child(kind: str, config: Path, sql: bool) -> dict:
    q: mp.Queue = mp.Queue()
    p = mp.get_context("fork").Process(target=_measure, args=(kind, str(config), sql, q))
    p.start()
    got = q.get()
    p.join()
    return got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--match", type=float, default=0.01)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        on_dir, off_dir = Path(tmp) / "on", Path(tmp) / "off"
        config = _project(on_dir)
        t0 = time.perf_counter()
        _populate(config, args.contacts, args.match)
        print(f"{args.contacts:,} contacts generated in {time.perf_counter() - t0:.1f} s")
        shutil.copytree(on_dir, off_dir)
        off_config = off_dir / "fsl.yaml"
        off_config.write_text(CONFIG.format(db=off_dir / "fsl.db"))
        d_on, d_off = _child("deploy", config, True), _child("deploy", off_config, False)
        print(f"deploy, first checks  SQL: {d_on['seconds']:7.2f} s {d_on['peak_mb']:6.0f} MB   "
              f"engine: {d_off['seconds']:7.2f} s {d_off['peak_mb']:6.0f} MB   "
              f"ratio {d_off['seconds'] / d_on['seconds']:.1f}x  ({d_on['checks']:,} / {d_off['checks']:,} rows)")
        t_on, t_off = _child("tick", config, True), _child("tick", off_config, False)
        for name, t in (("SQL pass-over", t_on), ("engine alone ", t_off)):
            print(f"tick, 24 h  {name}: {t['seconds']:7.2f} s  peak {t['peak_mb']:6.0f} MB  "
                  f"engine checks {t['engine']:>9,}  moved on in SQL {t['sql']:>9,}  enrolled {t['enrolled']:,}")
        print(f"tick ratio (engine alone / SQL pass-over): {t_off['seconds'] / t_on['seconds']:.1f}x; "
              f"same enrollments: {t_on['enrolled'] == t_off['enrolled']}")


if __name__ == "__main__":
    main()
