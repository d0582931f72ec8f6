"""The console's /tasks page at scale: server time per request and queries per request.

A store of C contacts (default 1,000,000) owned by R reps (default 100), each rep with
T open tasks due today or overdue (default 200; so 20,000 open tasks), each task with
its action, its enrollment and the deployed plan's source (for the "why" line).  The
app of `fsl serve` is built in-process over that store; one rep logs in, then the page
is requested N times as HTML and N times as JSON.  Server time is measured around the
ASGI app (request in, last byte out), queries with a SQLAlchemy `before_cursor_execute`
listener on the store's engine.  Measured side by side in one run: the page for a rep
with T tasks and for a rep with T/10 (queries per request must not grow with tasks).

    python bench/console_speed.py [--contacts 1000000] [--reps 100] [--tasks 200] [--requests 300]
                                  [--store postgresql://...]   (default: a SQLite file in a temp folder)
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
SECRET = "bench-console-secret-0123456789"
PASSWORD = "bench password"
PLAYBOOK = """\
playbook calls:
    enroll on signed_up
    stop on unsubscribed
    step call:
        task call "Call {{ contact.first_name }}"
"""


def project(folder: Path, store: str) -> Path:
    (folder / "sequences").mkdir()
    (folder / "templates").mkdir()
    (folder / "sequences" / "calls.fsl").write_text(PLAYBOOK)
    config = folder / "fsl.yaml"
    config.write_text(f"""version: 1
sequences: sequences/
templates: templates/
store: {store}
timezone: UTC
schema:
  contact:
    first_name: string
events:
  signed_up: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: 9, from: "Acme <hello@acme.example>"}}
server:
  secret: {SECRET}
""")
    return config


def fill(rt, contacts: int, reps: int, tasks_each: int, small: int, now: datetime) -> None:
    """Bulk rows through SQLAlchemy Core (executemany in chunks): what the store would hold."""
    from fsl.runtime.deploy import deploy
    from fsl.store import users as U
    from fsl.store.codec import dumps, epoch
    from fsl.store.schema import actions, contacts as contacts_t, enrollments, tasks

    deploy(rt, [], now=now - timedelta(days=3))
    with rt.db.read() as conn:
        plan_hash = conn.execute(__import__("sqlalchemy").text("SELECT hash FROM playbooks")).scalar_one()
    chunk = 20_000
    t0 = time.perf_counter()
    for start in range(0, contacts, chunk):
        rows = [{"id": f"c{i:07d}", "version": 0, "updated_at": epoch(now),
                 "fields": dumps({"id": f"c{i:07d}", "email": f"c{i}@example.com", "first_name": f"Name{i}",
                                  "owner": f"rep{i % reps:03d}", "phone": "+1 415 555 0100"})}
                for i in range(start, min(contacts, start + chunk))]
        with rt.db.write() as conn:
            conn.execute(contacts_t.insert(), rows)
    print(f"  {contacts:,} contacts in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    with rt.db.write() as conn:
        for r in range(reps):
            U.add(conn, f"rep{r:03d}", PASSWORD if r < 2 else f"pw-{r}", role="rep", timezone="America/New_York")
    enrollment = 0
    for r in range(reps):
        n = small if r == 1 else tasks_each
        t_rows, a_rows, e_rows = [], [], []
        for k in range(n):
            enrollment += 1
            contact = f"c{(k * reps + r):07d}"  # one of this rep's contacts
            due = epoch(now - timedelta(hours=k % 72))
            key = f"{enrollment}:call:0:0"
            e_rows.append({"id": enrollment, "playbook": "calls", "plan_hash": plan_hash, "contact": contact,
                           "status": "waiting", "rank": 0, "wake_at": None, "started_at": due, "state": "{}"})
            a_rows.append({"key": key, "enrollment": enrollment, "contact": contact, "playbook": "calls",
                           "step": "call", "kind": "task", "channel": "call", "at": due, "line": 5,
                           "payload": "{}", "status": "delivered", "attempts": 1})
            t_rows.append({"action_key": key, "enrollment": enrollment, "contact": contact, "playbook": "calls",
                           "step": "call", "kind": "call", "assignee": f"rep{r:03d}", "text": f"Call Name{k}",
                           "due_at": due, "created_at": due, "status": "open"})
        with rt.db.write() as conn:
            conn.execute(enrollments.insert(), e_rows)
            conn.execute(actions.insert(), a_rows)
            conn.execute(tasks.insert(), t_rows)


def timed_app(app, times: list[float], cpu: list[float]):
    """Wall time and process CPU time around the app: on a shared machine the wall time
    includes waiting for a core, the CPU time does not."""
    async def wrapper(scope, receive, send):
        started, started_cpu = time.perf_counter(), time.process_time()
        await app(scope, receive, send)
        if scope["type"] == "http":
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
    return wrapper


def measure(client, times: list[float], cpu: list[float], queries: list[int], path: str, headers: dict,
            n: int) -> dict:
    times.clear()
    cpu.clear()
    counts = []
    for _ in range(n):
        before = queries[0]
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, answer.text[:500]
        counts.append(queries[0] - before)
    ms = sorted(t * 1000 for t in times)
    cpu_ms = sorted(t * 1000 for t in cpu)
    return {"p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
            "cpu50": statistics.median(cpu_ms), "cpu99": cpu_ms[min(len(cpu_ms) - 1, int(len(cpu_ms) * 0.99))],
            "queries": sorted(set(counts)), "bytes": len(answer.content)}


def login(client, name: str) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--store")
    args = ap.parse_args()
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from fsl.runtime.runtime import Runtime
    from fsl.web.app import Deps, build_app

    folder = Path(tempfile.mkdtemp(prefix="fsl-console-bench-"))
    config = project(folder, args.store or f"sqlite:///{folder / 'fsl.db'}")
    os.chdir(folder)
    rt = Runtime.open(config)
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"filling {args.contacts:,} contacts, {args.reps} reps x {args.tasks} tasks ...", file=sys.stderr)
    fill(rt, args.contacts, args.reps, args.tasks, max(1, args.tasks // 10), now)
    queries = [0]

    def count(conn, cursor, statement, *_rest):
        if not statement.lstrip().upper().startswith(("BEGIN", "PRAGMA")):  # statements, not transactions
            queries[0] += 1

    event.listen(rt.db.engine, "before_cursor_execute", count)
    times: list[float] = []
    cpu: list[float] = []
    app = timed_app(build_app(Deps(rt.config, rt, lambda: datetime.now(UTC))), times, cpu)
    from fsl.engine.gcpolicy import freeze_for_serving

    freeze_for_serving()  # as `fsl serve` does before it answers (fsl/cli/serve.py)
    results = {}
    for who, tasks in (("rep000", args.tasks), ("rep001", max(1, args.tasks // 10))):
        with TestClient(app) as client:
            login(client, who)
            client.get("/tasks")  # warm: the plan's source is read once per process
            for variant, headers in (("html", {}), ("json", {"Accept": "application/json"})):
                results[(who, variant)] = (tasks, measure(client, times, cpu, queries, "/tasks", headers,
                                                                 args.requests))
    rt.close()
    print(f"\n/tasks, {args.contacts:,} contacts, {args.reps} reps, {args.requests} requests each "
          f"({rt.db.dialect}); server time per request:")
    print(f"{'rep':8} {'tasks':>6} {'variant':8} {'p50 ms':>8} {'p99 ms':>8} {'CPU p50':>8} {'CPU p99':>8} "
          f"{'queries/request':>16} {'bytes':>9}")
    for (who, variant), (tasks, r) in results.items():
        print(f"{who:8} {tasks:>6} {variant:8} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['cpu50']:>8.1f} {r['cpu99']:>8.1f} "
              f"{','.join(map(str, r['queries'])):>16} {r['bytes']:>9,}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    big, small = results[("rep000", "html")][1], results[("rep001", "html")][1]
    print(f"ratio p50 {args.tasks} tasks / {max(1, args.tasks // 10)} tasks: {big['p50'] / small['p50']:.2f}x; "
          f"p99 target < 100 ms: {'met' if big['p99'] < 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
