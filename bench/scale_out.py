"""Do more workers go faster on one PostgreSQL store?

    python bench/scale_out.py [--due 200000] [--workers 1,2,4] [--pg postgresql://postgres@127.0.0.1:5432/test]

Builds DUE enrollments due now (bench/tick_speed.py's `nurture` playbook:
each executes one step that records one email, handed to a recording
channel) in a template PostgreSQL database, then for each worker count
copies it (CREATE DATABASE ... TEMPLATE, so every run does the same work
from the same state) and starts that many worker processes, each ticking
to NOW until nothing is due (what `fsl worker` does).  Prints step
executions per second for each count, the ratio to one worker (target with
2 workers on a 2-core machine: >= 1.6), and one process on SQLite over the
same work for comparison.  Checks afterwards that every step ran once.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recorder import Recorder  # noqa: E402
from tick_speed import CONFIG, NOW, PLAYBOOK, TEMPLATE, generate  # noqa: E402



def project(folder: Path, url: str) -> Path:
    (folder / "sequences").mkdir(parents=True, exist_ok=True)
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "sequences" / "nurture.fsl").write_text(PLAYBOOK)
    (folder / "templates" / "welcome.md").write_text(TEMPLATE)
    (folder / "templates" / "checkin.md").write_text(TEMPLATE.replace("Welcome", "Checking in"))
    (folder / "fsl.yaml").write_text(CONFIG.format(url=url))
    return folder / "fsl.yaml"


def build(config: Path, due: int) -> None:
    """Plans registered, clock set, DUE contacts and enrollments due at NOW."""
    from fsl.api import compile_project
    from fsl.runtime.runtime import Runtime
    from fsl.project import Project
    from fsl.store import plans as registry
    from fsl.store.codec import epoch

    rt = Runtime.open(config)
    plans = compile_project([config.parent / "sequences"], Project.load(config)).plans
    with rt.db.write() as conn:
        for plan in plans:
            registry.register(conn, plan, "nurture.fsl", PLAYBOOK, epoch(NOW))
            registry.set_current(conn, plan, epoch(NOW))
        registry.set_meta(conn, "clock", str(epoch(NOW - timedelta(hours=2))))
    rt.close()
    procs = []
    chunk = max(1, -(-due // 2))
    for lo in range(0, due, chunk):  # two generators at once
        p = mp.get_context("spawn").Process(target=generate, args=(str(config), lo, min(due, lo + chunk), due))
        p.start()
        procs.append(p)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    rt = Runtime.open(config)
    if rt.db.dialect == "postgresql":
        with rt.db.write() as conn:
            conn.exec_driver_sql("SELECT setval('fsl_enrollment_ids', (SELECT max(id) FROM enrollments))")
            # tables that grow during the run stay un-analyzed: their estimates then follow
            # their size (this server runs without autovacuum, so stats taken while
            # `actions` is empty would stay wrong and turn index lookups into scans)
            conn.exec_driver_sql("ANALYZE contacts, enrollments")
    rt.close()


def worker(config: str, ready, go, results) -> None:
    from fsl.runtime.runtime import Runtime

    # one process per worker: what this measures is workers sharing the store
    # (a delivery process each would also compete for the same cores)
    rt = Runtime.open(config, batch_size=500, delivery="inline")
    rt.adapters = {"email": Recorder(Path(config).parent / "recorded.txt")}
    rt.engine()
    ready.release()
    go.wait()
    steps = 0
    while True:
        report = rt.tick(NOW)
        steps += report.steps
        nxt = rt._next_instant()
        if nxt is None or nxt > NOW:
            break
        if not report.woken:
            time.sleep(0.02)
    rt.close()
    results.put(steps)


def run(config: Path, n: int) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(str(config), ready, go, results)) for _ in range(n)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    t0 = time.perf_counter()
    go.set()
    steps = sum(results.get() for _ in procs)
    seconds = time.perf_counter() - t0
    for p in procs:
        p.join()
    return seconds, steps


def executed_once(config: Path, due: int) -> bool:
    from fsl.runtime.runtime import Runtime

    rt = Runtime.open(config)
    with rt.db.read() as conn:
        n, distinct = conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT enrollment) FROM journal WHERE kind = 'executed'").one()
        keys = conn.exec_driver_sql("SELECT count(*), count(DISTINCT key) FROM actions WHERE status = 'delivered'").one()
    rt.close()
    return n == distinct == due and keys[0] == keys[1] == due


def admin(pg: str):
    import sqlalchemy as sa

    return sa.create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")


def with_db(pg: str, name: str) -> str:
    base, _, _ = pg.rpartition("/")
    return f"{base}/{name}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--due", type=int, default=200_000)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-sqlite", action="store_true")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="fsl-scale-"))
    eng = admin(args.pg)
    template = "fsl_bench_template"
    with eng.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {template}")
        conn.exec_driver_sql(f"CREATE DATABASE {template}")
    t0 = time.perf_counter()
    build(project(folder / "template", with_db(args.pg, template)), args.due)
    print(f"{args.due:,} due enrollments built on PostgreSQL in {time.perf_counter() - t0:.1f}s")
    rates: dict[int, float] = {}
    try:
        for n in counts:
            name = f"fsl_bench_w{n}"
            with eng.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
                conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
            config = project(folder / name, with_db(args.pg, name))
            seconds, steps = run(config, n)
            ok = executed_once(config, args.due)
            rates[n] = steps / seconds
            ratio = rates[n] / rates[counts[0]] if counts[0] == 1 else float("nan")
            print(f"PostgreSQL, {n} worker(s): {steps:,} steps in {seconds:.1f}s = {rates[n]:,.0f} steps/s; "
                  f"x{ratio:.2f} of one worker; every step once: {ok}")
            with eng.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        with eng.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {template}")
        eng.dispose()
    if not args.no_sqlite:
        config = project(folder / "sqlite", f"sqlite:///{folder / 'sqlite' / 'fsl.db'}")
        build(config, args.due)
        seconds, steps = run(config, 1)
        print(f"SQLite, 1 process (single writer): {steps:,} steps in {seconds:.1f}s = {steps / seconds:,.0f} steps/s; "
              f"every step once: {executed_once(config, args.due)}")


if __name__ == "__main__":
    main()
