"""Four workers on one PostgreSQL store, SIGKILLed part-way: exactly once, caps exact.

2,000 contacts run three playbooks (5,000 messages) whose sends compete for a global cap (2
a day per contact, across playbooks) and, for 1,000 of them who are the
stakeholders of 250 deals, for a cap `across deal` (1 a day per deal).  The
stakeholders of one deal are far apart in the due order (contacts k, k+500,
k+1000, k+1500), so they are claimed by different workers at the same
instant: only the contact and deal locks of fsl/store/lease.py keep the caps.

Four worker processes tick in a loop (`Runtime.tick`, what `fsl worker`
runs) to an instant four days on; workers are SIGKILLed at random moments
and replaced; a last tick finishes.  Then, as in test_crash.py:

* every step executed once (journal), one action row per key, all delivered,
  one enrollment per contact and playbook;
* counting SMTP arrivals by Message-ID, every key arrived exactly once; raw
  arrivals exceed that only for rows handed over again after a kill fell in
  the accepted-but-not-settled window (at most one per kill);
* no contact got more than 2 sends in any day, no deal more than 1 deal
  playbook send in any day -- checked on the store's action rows and on the
  messages that arrived.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.message import message_id

from .test_crash import smtp_sink_process
from .test_ops_support import FOLLOWUP, HELLO, T0
from .test_pg_support import pg_url  # noqa: F401 - the fixture

N = 2000
DEALS = 250
WORKERS = int(os.environ.get("FSL_TEST_WORKERS", 4))
KILLS = int(os.environ.get("FSL_TEST_KILLS", 8))
DAY = 86400

PLAYBOOKS = {
    "welcome": """\
playbook welcome:
    priority 60
    enroll on signed_up
    stop on unsubscribed

    step hello:
        send email "hello"
""",
    "promo": """\
playbook promo:
    priority 40
    enroll on signed_up
    stop on unsubscribed

    step promote:
        send email "hello"
""",
    "accounts": """\
playbook accounts:
    priority 50
    enroll on deal_opened for each stakeholder
    cap email 1 per 1 day across deal
    stop on unsubscribed

    step touch:
        send email "followup"
""",
}

CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: "{url}"
timezone: UTC
schema:
  contact:
    first_name: string
events:
  signed_up: {{}}
  deal_opened: {{}}
caps:
  - {{limit: 2, per: 1 day}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: {port}, from: "Acme <hello@acme.example>", timeout: 5,
           retry: {{max_attempts: 8, base: 60, factor: 2, jitter: 0}}}}
"""


def _project(folder: Path, url: str, port: int) -> Path:
    (folder / "sequences").mkdir(parents=True)
    (folder / "templates").mkdir()
    for name, text in PLAYBOOKS.items():
        (folder / "sequences" / f"{name}.fsl").write_text(text)
    (folder / "templates" / "hello.md").write_text(HELLO)
    (folder / "templates" / "followup.md").write_text(FOLLOWUP)
    (folder / "fsl.yaml").write_text(CONFIG.format(url=url, port=port))
    return folder / "fsl.yaml"


def _populate(config: Path) -> None:
    from fsl.runtime.deploy import deploy
    from fsl.runtime.runtime import Runtime
    from fsl.engine.model import Contact, Deal, Event

    rt = Runtime.open(config)
    try:
        deploy(rt, [], now=T0)
        ids = [f"c{i:04d}" for i in range(1, N + 1)]
        rt.put_contacts([Contact(c, {"id": c, "email": f"{c}@example.com", "first_name": c}) for c in ids], now=T0)
        rt.put_deals([Deal(f"d{k:03d}", {"id": f"d{k:03d}"},
                           {f"c{k + j * 500:04d}": {} for j in range(4)}) for k in range(1, DEALS + 1)], now=T0)
        rt.record_events([Event(T0, "signed_up", c) for c in ids]
                         + [Event(T0, "deal_opened", None, f"d{k:03d}") for k in range(1, DEALS + 1)])
    finally:
        rt.close()


def _worker(config: str, now_iso: str) -> None:
    """What `fsl worker` does, ticking to a fixed instant until nothing is due."""
    from fsl.runtime.runtime import Runtime
    from fsl.timecalc import parse_instant

    now = parse_instant(now_iso)
    rt = Runtime.open(config, batch_size=50)
    while True:
        report = rt.tick(now)
        nxt = rt._next_instant()
        if nxt is None or nxt > now:
            break
        if not (report.events or report.checks or report.woken):
            time.sleep(0.05)  # what is left is in other workers' hands
    rt.close()
    os._exit(0)


def _within(times: list[int], limit: int, span: int) -> bool:
    """No half-open window (t - span, t] holds more than `limit` of these instants."""
    times = sorted(times)
    lo = 0
    for hi, t in enumerate(times):
        while times[lo] <= t - span:
            lo += 1
        if hi - lo + 1 > limit:
            return False
    return True


def test_four_workers_sigkilled_deliver_exactly_once_and_keep_caps(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    started = time.monotonic()
    arrivals_file = tmp_path / "arrivals.jsonl"
    port, server = smtp_sink_process(arrivals_file)
    fork = mp.get_context("fork")
    live: list = []
    kills = 0
    try:
        config = _project(tmp_path, pg_url, port)
        _populate(config)
        populated = time.monotonic() - started
        now = (T0 + timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rng = random.Random(20261123)

        def spawn_worker():
            p = fork.Process(target=_worker, args=(str(config), now))
            p.start()
            live.append(p)

        for _ in range(WORKERS):
            spawn_worker()
        while kills < KILLS and any(p.is_alive() for p in live):
            time.sleep(rng.uniform(0.2, 0.8))
            alive = [p for p in live if p.is_alive()]
            if not alive:
                break
            victim = rng.choice(alive)
            os.kill(victim.pid, signal.SIGKILL)
            victim.join()
            kills += victim.exitcode == -signal.SIGKILL
            spawn_worker()
        for p in live:
            p.join(90)
            assert p.exitcode in (0, -signal.SIGKILL)
        last = fork.Process(target=_worker, args=(str(config), now))  # takes back what the killed left
        last.start()
        last.join(60)
        assert last.exitcode == 0
        time.sleep(0.3)
    finally:
        for p in live:
            if p.is_alive():
                p.kill()
        server.kill()
        server.join()
    assert kills >= KILLS // 2

    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = {r.key: r for r in conn.execute(sa.text(
            "SELECT key, kind, status, attempts, contact, deal, playbook, at FROM actions"))}
        executed = Counter(tuple(r) for r in conn.execute(sa.text(
            "SELECT enrollment, step FROM journal WHERE kind = 'executed'")))
        per_playbook = Counter(tuple(r) for r in conn.execute(sa.text("SELECT contact, playbook FROM enrollments")))
        still_due = conn.execute(sa.text("SELECT count(*) FROM enrollments WHERE wake_at <= :t"),
                                 {"t": int((T0 + timedelta(days=4)).timestamp())}).scalar()
        ticks = conn.execute(sa.text("SELECT count(*) FROM ticks")).scalar()
    engine.dispose()

    sends = {k: r for k, r in rows.items() if r.kind == "send"}
    assert set(per_playbook.values()) == {1} and len(per_playbook) == 2 * N + 4 * DEALS
    assert still_due == 0
    assert set(executed.values()) == {1}  # every step executed once, none twice
    assert len(executed) == len(sends)  # one send per executed step in these playbooks
    assert {r.status for r in sends.values()} == {"delivered"}

    # caps, on the store: global 2/day per contact, `across deal` 1/day per deal
    by_contact: dict[str, list[int]] = defaultdict(list)
    by_deal: dict[str, list[int]] = defaultdict(list)
    for r in sends.values():
        by_contact[r.contact].append(r.at)
        if r.playbook == "accounts":
            by_deal[r.deal].append(r.at)
    assert all(_within(ts, 2, DAY) for ts in by_contact.values())
    assert all(_within(ts, 1, DAY) for ts in by_deal.values())
    assert len(by_deal) == DEALS and all(len(ts) == 4 for ts in by_deal.values())  # deferred, not dropped
    assert sum(1 for r in sends.values() if r.at > int(T0.timestamp())) > DEALS  # the caps did defer sends

    # exactly once by Message-ID, at the SMTP server
    arrivals = [json.loads(line) for line in arrivals_file.read_text().splitlines()]
    by_id = Counter(a["message_id"] for a in arrivals)
    want = {message_id(k, "acme.example"): r for k, r in sends.items()}
    assert set(by_id) == set(want)
    duplicates = {mid: n for mid, n in by_id.items() if n > 1}
    raw = len(arrivals)
    for mid, n in duplicates.items():  # only rows handed over again after a kill
        assert want[mid].attempts >= n
    assert raw - len(want) <= kills
    # caps, on what arrived (each message once)
    arrived_contact: dict[str, list[int]] = defaultdict(list)
    for mid in by_id:
        arrived_contact[want[mid].contact].append(want[mid].at)
    assert all(_within(ts, 2, DAY) for ts in arrived_contact.values())
    elapsed = time.monotonic() - started
    print(f"\n{kills} kills, {ticks} ticks; {len(want)} messages, {raw} raw arrivals "
          f"({len(duplicates)} duplicated by the accepted-but-not-settled window); {elapsed:.1f}s "
          f"({populated:.1f}s to set up)")
    assert elapsed < 60
