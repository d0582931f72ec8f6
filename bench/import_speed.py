"""How fast is `fsl contacts import`, next to raw executemany of the same rows?

    python bench/import_speed.py [--rows 1000000] [--bad-every 100000]

One CSV of ROWS contacts (id, email, names, company, an enum tier, an
instant), with one bad row (two addresses in `email`) every BAD_EVERY rows,
loaded in one run two ways, each into its own fresh SQLite file:

* `fsl contacts import FILE` as a user runs it (a subprocess, so start-up
  counts, with fsl's bytecode cached as an installed fsl has it: one tiny
  import runs first): every value checked and coerced, bad rows reported by
  line, contacts merged with the stored ones and upserted;
* raw: `csv.reader` over the same file, each row's fields as JSON, and
  `executemany(INSERT ...)` into the same `contacts` table with the same
  pragmas, one transaction per 5,000 rows -- no checks at all.

Prints both rates and their ratio (the target is >= 0.5), by wall clock and
by CPU time, and checks that the import reported exactly the planted bad
lines.  This machine's speed drifts by a fifth from one minute to the next,
so the two are run REPEAT times, alternately, and the best run of each is
compared (as timeit takes the best of its repeats); each pair's ratio is
printed too.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = """\
version: 1
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
    last_name: string
    company: string?
    tier: {enum: [A, B, C]}
    last_order_at: datetime?
channels:
  email: {adapter: smtp, host: 127.0.0.1, port: 1, from: "Ana <ana@acme.example>"}
"""
COLUMNS = ["id", "email", "first_name", "last_name", "company", "tier", "last_order_at"]
CHUNK = 5000


def write_csv(path: Path, rows: int, bad_every: int) -> list[int]:
    """The file, and the line numbers of its bad rows."""
    bad = []
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for i in range(rows):
            email = f"user{i}@x{i % 97}.example"
            if bad_every and i % bad_every == bad_every // 2:
                email = f"{email}, evil@attacker.example"
                bad.append(i + 2)
            out.writerow([f"c{i}", email, f"First{i}", f"Last{i}", f"Company {i % 1000}", "ABC"[i % 3],
                          f"2026-0{1 + i % 9}-1{i % 9}T10:00:00Z"])
    return bad


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child_env() -> dict[str, str]:
    """fsl's environment: as an installed fsl starts, with its bytecode cached (this sandbox
    sets PYTHONDONTWRITEBYTECODE, which would make every run compile fsl's modules again)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(ROOT)}


def warm_up(folder: Path) -> None:
    """One tiny import into a store of its own, so that the measured run finds the bytecode cached."""
    warm = folder / "warm"
    warm.mkdir()
    (warm / "fsl.yaml").write_text(CONFIG)
    (warm / "sequences").mkdir()
    (warm / "templates").mkdir()
    write_csv(warm / "few.csv", 3, 0)
    subprocess.run([sys.executable, "-m", "fsl", "contacts", "import", str(warm / "few.csv"), "--config",
                    str(warm / "fsl.yaml")], capture_output=True, env=child_env(), check=True)


def run_fsl(folder: Path, data: Path) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds, the command's JSON report)."""
    env = child_env()
    cpu = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "fsl", "contacts", "import", str(data), "--format", "json",
                           "--config", str(folder / "fsl.yaml")], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"fsl contacts import failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, _children_cpu() - cpu, json.loads(done.stdout)


def run_raw(db_path: Path, data: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, rows inserted)."""
    import sqlalchemy as sa

    from fsl.store.schema import contacts

    ddl = str(sa.schema.CreateTable(contacts).compile(dialect=sa.dialects.sqlite.dialect()))
    cpu = time.process_time()
    start = time.perf_counter()
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(ddl)
    now = int(time.time())
    n = 0
    with data.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = []
        for row in reader:
            fields = dict(zip(header[1:], row[1:]))
            rows.append((row[0], json.dumps(fields), 0, now))
            if len(rows) >= CHUNK:
                n += _insert(conn, rows)
                rows = []
        n += _insert(conn, rows)
    conn.close()
    return time.perf_counter() - start, time.process_time() - cpu, n


def _insert(conn: sqlite3.Connection, rows: list[tuple]) -> int:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO contacts (id, fields, version, updated_at) VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    return len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--bad-every", type=int, default=100_000, help="one bad row in this many (0: none)")
    ap.add_argument("--repeat", type=int, default=3, help="pairs of runs, each way in turn; the best of each counts")
    args = ap.parse_args()
    fsl_runs: list[tuple[float, float]] = []
    raw_runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="fsl-import-speed-") as tmp:
        folder = Path(tmp)
        (folder / "fsl.yaml").write_text(CONFIG)
        (folder / "sequences").mkdir()
        (folder / "templates").mkdir()
        data = folder / "contacts.csv"
        bad = write_csv(data, args.rows, args.bad_every)
        size = data.stat().st_size / 1e6
        warm_up(folder)
        for i in range(args.repeat):  # alternated, so that a slower spell of the machine falls on both
            for name in ("fsl.db", "fsl.db-wal", "fsl.db-shm", "raw.db", "raw.db-wal", "raw.db-shm"):
                (folder / name).unlink(missing_ok=True)
            fsl_s, fsl_cpu, report = run_fsl(folder, data)
            raw_s, raw_cpu, raw_n = run_raw(folder / "raw.db", data)
            fsl_runs.append((fsl_s, fsl_cpu))
            raw_runs.append((raw_s, raw_cpu))
            print(f"run {i + 1}: fsl {fsl_s:.1f} s ({fsl_cpu:.1f} CPU), raw {raw_s:.1f} s ({raw_cpu:.1f} CPU): "
                  f"{raw_s / fsl_s * raw_n / report['imported']:.2f} wall", flush=True)
    fsl_s, fsl_cpu = min(r[0] for r in fsl_runs), min(r[1] for r in fsl_runs)
    raw_s, raw_cpu = min(r[0] for r in raw_runs), min(r[1] for r in raw_runs)
    reported = [p["line"] for p in report["problems"]]
    good = args.rows - len(bad)
    done = report["imported"]
    print(f"{args.rows:,} rows, {size:.0f} MB of CSV, {len(bad)} planted bad rows; best of {args.repeat} runs each")
    print(f"{'':24}{'wall s':>9}{'rows/s':>11}{'CPU s':>9}{'rows/CPU s':>12}")
    print(f"{'fsl contacts import':24}{fsl_s:9.1f}{done / fsl_s:11,.0f}{fsl_cpu:9.1f}{done / fsl_cpu:12,.0f}")
    print(f"{'raw executemany':24}{raw_s:9.1f}{raw_n / raw_s:11,.0f}{raw_cpu:9.1f}{raw_n / raw_cpu:12,.0f}")
    print(f"ratio (fsl / raw): {(done / fsl_s) / (raw_n / raw_s):.2f} wall, "
          f"{(done / fsl_cpu) / (raw_n / raw_cpu):.2f} CPU  (target >= 0.5)")
    print(f"bad rows reported by line: {reported == bad} ({len(reported)} of {len(bad)}); "
          f"imported {done:,} of {good:,} good rows")

if __name__ == "__main__":
    main()
