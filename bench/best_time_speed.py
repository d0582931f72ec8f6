"""What does `send at best time` cost a production tick?

    python bench/best_time_speed.py [--total 200000] [--due 20000] [--batch 500] [--rounds 2]

Builds two SQLite stores the way bench/tick_speed.py does (contacts and
enrollments written with executemany, DUE of TOTAL due now), one for its
`nurture` playbook as is and one with `send at best time` added, and gives
every contact a few human engagements in the maintained aggregate
(`engagement`, `engagement_totals`; varied hours, so most sends are held).
Then it runs the same due tick, engine only (deliver=False), on copies of
both stores, alternating, ROUNDS times, and prints both figures (step
decisions per second) and the ratio (target >= 0.8).  A held send is a
decision too (journaled `deferred`, woken at its hour), so both ticks decide
the same DUE steps.
"""
from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import tick_speed  # noqa: E402 - the generation and the playbook of the tick benchmark

BEST = tick_speed.PLAYBOOK.replace("    stop on replied\n", "    stop on replied\n    send at best time\n")


def build(folder: Path, playbook: str, total: int, due: int) -> Path:
    from fsl.api import compile_project
    from fsl.project import Project
    from fsl.runtime.runtime import Runtime
    from fsl.store import plans as registry
    from fsl.store.codec import epoch

    config_path = tick_speed.make_project(folder)
    (folder / "sequences" / "nurture.fsl").write_text(playbook)
    rt = Runtime.open(config_path)
    plans = compile_project([folder / "sequences"], Project.load(config_path)).plans
    with rt.db.write() as conn:
        for plan in plans:
            registry.register(conn, plan, "nurture.fsl", playbook, epoch(tick_speed.NOW))
            registry.set_current(conn, plan, epoch(tick_speed.NOW))
        registry.set_meta(conn, "clock", str(epoch(tick_speed.NOW)))
    rt.close()
    tick_speed.run_child(str(config_path), 0, total, due)
    seed_engagement(folder / "fsl.db", total)
    return config_path


def seed_engagement(db: Path, total: int) -> None:
    """Three human engagements per contact at two hours of its own; the project's totals to match."""
    rows, totals = [], [0] * 24
    for i in range(total):
        a, b = (i * 7) % 24, (i * 7 + 5) % 24
        rows += [(f"c{i:07d}", a, 2), (f"c{i:07d}", b, 1)]
        totals[a] += 2
        totals[b] += 1
    con = sqlite3.connect(db)
    with con:
        con.executemany("INSERT INTO engagement (contact, hour, n) VALUES (?, ?, ?)", rows)
        con.executemany("INSERT INTO engagement_totals (hour, n) VALUES (?, ?)", list(enumerate(totals)))
    con.close()


def one_tick(config_path: Path, batch: int) -> tuple[float, int, int]:
    """The due tick on a fresh copy of the store: (seconds, steps, sends held)."""
    from fsl.runtime.runtime import Runtime

    folder = config_path.parent
    copy = folder / "copy.db"
    copy.unlink(missing_ok=True)
    src, dst = sqlite3.connect(folder / "fsl.db"), sqlite3.connect(copy)
    src.backup(dst)
    src.close(), dst.close()
    rt = Runtime.open(config_path, store_url=f"sqlite:///{copy}", batch_size=batch)
    rt.engine()
    t0 = time.perf_counter()
    rep = rt.tick(tick_speed.NOW, deliver=False)
    seconds = time.perf_counter() - t0
    con = sqlite3.connect(copy)
    held = con.execute("SELECT count(*) FROM journal WHERE kind = 'deferred' AND reason LIKE '%best time%'").fetchone()[0]
    con.close()
    rt.close()
    return seconds, rep.steps, held


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--total", type=int, default=200_000)
    ap.add_argument("--due", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="fsl-besttime-", dir=args.dir))
    plain = build(root / "plain", tick_speed.PLAYBOOK, args.total, args.due)
    best = build(root / "best", BEST, args.total, args.due)
    print(f"stores under {root}: {args.total:,} enrollments each, {args.due:,} due; batch {args.batch}")
    times: dict[str, list[float]] = {"plain": [], "best": []}
    for r in range(args.rounds):
        for name, path in (("plain", plain), ("best", best)) if r % 2 == 0 else (("best", best), ("plain", plain)):
            seconds, steps, held = one_tick(path, args.batch)
            steps += held  # a held send is a decision too
            times[name].append(steps / seconds)
            print(f"  round {r + 1} {name:5}: {steps:,} step decisions in {seconds:.2f} s = {steps / seconds:,.0f}/s"
                  + (f" ({held:,} sends held for their best hour)" if name == "best" else ""))
    p, b = statistics.median(times["plain"]), statistics.median(times["best"])
    print(f"\nsummary: without `send at best time` {p:,.0f} steps/s, with it {b:,.0f} steps/s; "
          f"ratio {b / p:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
