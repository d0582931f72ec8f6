"""How long does a segment over many contacts take, with and without SQL?

    python bench/segment_speed.py [--contacts 1000000] [--match 0.01] [--postgres URL]

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

With --postgres URL (e.g. postgresql://postgres@127.0.0.1:5432/test) the
stores are two fresh schemas of that database instead of SQLite files.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import resource
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
store: "{url}"
timezone: UTC
schema:
  contact:
    first_name: string
    tier: string
    score: number
channels:
  call: {{adapter: task}}
"""


def _project(folder: Path, url: str | None) -> Path:
    (folder / "sequences").mkdir(parents=True)
    (folder / "templates").mkdir()
    (folder / "sequences" / "vip.fsl").write_text(PLAYBOOK)
    config = folder / "fsl.yaml"
    config.write_text(CONFIG.format(url=url or f"sqlite:///{folder / 'fsl.db'}"))
    return config


def _populate(config: Path, n: int, match: float) -> None:
    from fsl.runtime.runtime import Runtime
    from fsl.store.schema import contacts

    rt = Runtime.open(config)  # creates the schema
    rng = random.Random(5)
    rows = []
    for i in range(n):
        fields = {"id": f"c{i:07d}", "first_name": f"P{i}", "timezone": rng.choice(ZONES),
                  "tier": "A" if rng.random() < match else rng.choice("BC"), "score": rng.randrange(11)}
        rows.append({"id": fields["id"], "fields": json.dumps(fields, separators=(",", ":")), "version": 0})
    for i in range(0, n, 20_000):
        with rt.db.write() as conn:
            conn.execute(contacts.insert(), rows[i:i + 20_000])
    rt.close()


def _schema(url: str) -> tuple[str, str]:
    """A fresh schema of the PostgreSQL database: (its URL, its name)."""
    import uuid

    import sqlalchemy as sa

    name = f"fsl_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    admin.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}", name


def _drop(url: str, names: list[str]) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        for name in names:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    admin.dispose()


def _measure(kind: str, config: str, sql: bool, out) -> None:
    from fsl.runtime.deploy import deploy
    from fsl.runtime.runtime import Runtime

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
    ap.add_argument("--postgres", metavar="URL", help="run on two fresh schemas of this database")
    args = ap.parse_args()
    schemas: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _compare(Path(tmp), args, schemas)
    finally:
        if schemas:
            _drop(args.postgres, schemas)


def _compare(tmp: Path, args, schemas: list[str]) -> None:
    urls = []
    for _ in range(2):
        if args.postgres:
            url, name = _schema(args.postgres)
            schemas.append(name)
            urls.append(url)
        else:
            urls.append(None)
    config, off_config = _project(tmp / "on", urls[0]), _project(tmp / "off", urls[1])
    t0 = time.perf_counter()
    for c in (config, off_config):
        _populate(c, args.contacts, args.match)
    print(f"{'PostgreSQL' if args.postgres else 'SQLite'}: {args.contacts:,} contacts generated twice "
          f"in {time.perf_counter() - t0:.1f} s")
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
