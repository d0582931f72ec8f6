"""Ticks killed with SIGKILL at random instants lose nothing and execute nothing twice.

Many ticks run in child processes and are killed at random moments -- while
they claim events, run engine batches, write them back, hand messages to the
SMTP server or settle them -- then a final tick runs to the end.  Then:

* every step was executed exactly once (the journal), every idempotency key
  has exactly one action row, and every row was delivered;
* every key's message arrived at the SMTP server, and counting by Message-ID
  gives exactly one each;
* raw arrivals may exceed that, and only through the window SMTP cannot close
  atomically with the database: the server accepted DATA, then the tick died
  before committing `delivered`.  The row stayed `sending`, the next tick took
  it back from the dead claimer and handed it over again, with the same
  Message-ID.  So every duplicate is of a row handed over more than once
  (attempts >= 2), and since network channels settle each message as soon as
  it is accepted, a kill leaves at most one such message: duplicates <= kills.

The SMTP server runs in its own process (this one forks the ticks, and keeps
no threads while it does).
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.message import message_id

from .test_ops_support import T0, free_port, make_project, populate, runtime

N = 1200  # contacts; two messages and a task each
KILLS = 24


def _smtp_server(port: int, path: str, ready) -> None:
    """An SMTP server appending one JSON line per accepted message."""
    import asyncio
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            msg = message_from_bytes(envelope.content)
            with open(path, "a") as f:
                f.write(json.dumps({"message_id": msg["Message-ID"], "to": envelope.rcpt_tos}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.sleep(3600))
    finally:
        controller.stop()


def smtp_sink_process(arrivals_file: Path) -> tuple[int, mp.Process]:
    """`_smtp_server` in its own process (ticks are SIGKILLed around it), up and
    listening; returns (its port, the process to kill at the end)."""
    port = free_port()
    spawn = mp.get_context("spawn")
    ready = spawn.Event()
    server = spawn.Process(target=_smtp_server, args=(port, str(arrivals_file), ready), daemon=True)
    server.start()
    assert ready.wait(30)
    return port, server


def _tick(config: str, now_iso: str) -> None:
    from fsl.runtime.runtime import Runtime
    from fsl.timecalc import parse_instant

    rt = Runtime.open(config, batch_size=20)
    rt.tick(parse_instant(now_iso))
    rt.close()
    os._exit(0)


def test_sigkilled_ticks_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    arrivals_file = tmp_path / "arrivals.jsonl"
    port, server = smtp_sink_process(arrivals_file)
    try:
        config = make_project(tmp_path, port=port, attempts=8)
        populate(config, N)
        now = (T0 + timedelta(days=1, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")  # both steps due
        rng = random.Random(20261123)
        fork = mp.get_context("fork")
        kills = attempts = 0
        while kills < KILLS and attempts < 2 * KILLS:
            attempts += 1
            child = fork.Process(target=_tick, args=(str(config), now))
            child.start()
            time.sleep(rng.uniform(0.02, 0.45))
            os.kill(child.pid, signal.SIGKILL)
            child.join()
            kills += child.exitcode == -signal.SIGKILL
        done = fork.Process(target=_tick, args=(str(config), now))  # the one that finishes
        done.start()
        done.join(120)
        assert done.exitcode == 0
        time.sleep(0.2)
    finally:
        server.kill()
        server.join()
    assert kills >= 20

    rt = runtime(config)
    with rt.db.read() as conn:
        rows = {r.key: r for r in conn.execute(sa.text("SELECT key, kind, status, attempts FROM actions"))}
        executed = Counter(tuple(r) for r in conn.execute(sa.text(
            "SELECT enrollment, step FROM journal WHERE kind = 'executed'")))
        tasks = conn.execute(sa.text("SELECT count(*), count(DISTINCT action_key) FROM tasks")).one()
    rt.close()
    sends = {k: r for k, r in rows.items() if r.kind == "send"}
    assert len(sends) == 2 * N
    assert set(executed.values()) == {1} and len(executed) == 2 * N  # every step once, none twice
    assert {r.status for r in rows.values()} == {"delivered"}
    assert tasks == (N, N)  # one call task per contact, once

    arrivals = [json.loads(line) for line in arrivals_file.read_text().splitlines()]
    by_id = Counter(a["message_id"] for a in arrivals)
    want = {message_id(k, "acme.example"): r for k, r in sends.items()}
    assert set(by_id) == set(want)  # every key's message arrived: nothing lost
    assert len(by_id) == 2 * N  # counting by Message-ID: exactly one each
    duplicates = {mid: n for mid, n in by_id.items() if n > 1}
    raw = len(arrivals)
    assert raw - 2 * N == sum(n - 1 for n in duplicates.values())
    for mid, n in duplicates.items():  # only re-handed rows, through the accepted-but-not-settled window
        assert want[mid].attempts >= n
    assert raw - 2 * N <= kills
    print(f"\n{kills} kills; {2 * N} messages; {raw} raw arrivals; {len(duplicates)} duplicated by the "
          f"accepted-but-not-settled window; {sum(1 for r in sends.values() if r.attempts > 1)} re-handed rows")
