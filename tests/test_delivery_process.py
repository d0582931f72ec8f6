"""The delivery process (fsl/runtime/delivery_process.py): a tick renders and hands
over in a process of its own, pipelined with the engine, and keeps every
guarantee of the in-process outbox.

* over a real SMTP server on loopback every key arrives exactly once (by
  Message-ID), and the to-do items of tasks are written once;
* batch-settled (local) channels are settled by the tick's own batches;
* `delivery="auto"` starts a process only for a large tick;
* a delivery process that dies loses nothing: the tick delivers the rest
  itself, or -- stopped -- leaves it to the next tick;
* SIGKILLed ticks with their delivery processes lose nothing and send
  nothing twice (counting by Message-ID), as in test_crash.py;
* the write turns let the delivery process's writes in between the engine's
  back-to-back batches on SQLite.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.channels.base import delivered
from fsl.delivery.message import message_id
from fsl.runtime import outbox as outbox_mod
from fsl.runtime.outbox import owner_alive, owner_token

from .test_crash import smtp_sink_process
from .test_ops_support import T0, SmtpServer, make_project, populate, runtime
from .test_pg_support import pg_url  # noqa: F401 - the fixture


class FileRecorder:
    """A batch-settled channel that appends `pid key` lines to a file (one
    write each, O_APPEND: atomic across processes).  Importable by name, so
    it can be sent to the delivery process."""

    settle_each = False

    def __init__(self, path: Path, delay: float = 0.0) -> None:
        self.path = str(path)
        self.delay = delay
        self._fd: int | None = None

    def __getstate__(self) -> dict:
        return {"path": self.path, "delay": self.delay, "_fd": None}

    def deliver(self, msg):
        if self.delay:
            time.sleep(self.delay)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, f"{os.getpid()} {msg.key}\n".encode())
        return delivered("recorded")

    def close(self) -> None:
        pass

    def lines(self) -> list[tuple[int, str]]:
        path = Path(self.path)
        if not path.exists():
            return []
        return [(int(pid), key) for pid, key in (line.split() for line in path.read_text().splitlines())]


class Killer(FileRecorder):
    """A FileRecorder that SIGKILLs the delivery process at its `after`-th
    message (never the test's own process), leaving a flag file first."""

    def __init__(self, path: Path, after: int) -> None:
        super().__init__(path)
        self.after, self.home, self.count = after, os.getpid(), 0

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "after": self.after, "home": self.home, "count": 0}

    def deliver(self, msg):
        if os.getpid() != self.home:
            self.count += 1
            if self.count == self.after:
                Path(self.path + ".killed").write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
        return super().deliver(msg)


def _rows(config: Path) -> dict[str, dict]:
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            return {r["key"]: dict(r) for r in conn.execute(sa.select(outbox_mod.actions)).mappings()}
    finally:
        rt.close()


def _tick(config: Path, when, **kwargs):
    adapters = kwargs.pop("adapters", None)
    stop = kwargs.pop("stop", None)
    rt = runtime(config, **kwargs)
    if adapters is not None:
        rt.adapters = adapters
    try:
        return rt.tick(when, stop=stop)
    finally:
        rt.close()


# ---------------------------------------------------------------- exactly once

def test_a_tick_with_a_delivery_process_delivers_every_message_once_over_smtp(tmp_path: Path) -> None:
    n = 120
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port)
        populate(config, n)
        first = _tick(config, T0, delivery="process", batch_size=25)
        assert first.steps == n and first.delivered == n and first.failed == 0
        info = first.delivery_process
        assert info["started"] and info["error"] is None and info["handed_over"] == n
        assert info["delivered"] == n  # smtp: settled by the process itself, one by one
        # a day later: a follow-up email (smtp) and a call task (settled by the tick) each
        second = _tick(config, T0 + timedelta(days=1, minutes=5), delivery="process", batch_size=25)
        assert second.delivered == 2 * n and second.delivery_process["handed_over"] == 2 * n
        assert second.delivery_process["delivered"] == n  # the tasks were written by the tick
        rows = _rows(config)
        sends = {k: r for k, r in rows.items() if r["kind"] == "send"}
        assert len(sends) == 2 * n
        assert all(r["status"] == "delivered" and r["claimed_by"] is None and r["attempts"] == 1
                   for r in rows.values())
        by_id = smtp.sink.by_message_id()
        assert set(by_id) == {message_id(k, "acme.example") for k in sends}
        assert set(by_id.values()) == {1}  # every key once, nothing twice
        assert {r["message_id"] for r in sends.values()} == set(by_id)
    rt = runtime(config)
    with rt.db.read() as conn:
        tasks = conn.execute(sa.text("SELECT count(*), count(DISTINCT action_key) FROM tasks")).one()
    rt.close()
    assert tuple(tasks) == (n, n)


def test_local_channels_are_settled_by_the_ticks_batches(tmp_path: Path) -> None:
    n = 150
    config = make_project(tmp_path)
    populate(config, n)
    recorder = FileRecorder(tmp_path / "recorded.txt")
    report = _tick(config, T0, delivery="process", batch_size=20, adapters={"email": recorder})
    assert report.delivered == n and report.delivery_process["handed_over"] == n
    assert report.delivery_process["delivered"] == 0  # all of them written by the tick
    lines = recorder.lines()
    assert Counter(key for _, key in lines) == Counter({k: 1 for k in _rows(config)})
    assert {pid for pid, _ in lines} != {os.getpid()}  # rendered and handed over elsewhere
    rows = _rows(config)
    assert all(r["status"] == "delivered" and r["claimed_by"] is None and r["lease_until"] is None
               for r in rows.values())
    # an smtp channel, even overridden: the Message-ID of the key is recorded
    assert all(r["message_id"] == message_id(k, "acme.example") for k, r in rows.items())


def _slowly(recorder: FileRecorder):
    """A `stop` for tick() that never stops it but slows its engine down (it is
    called between batches) until another process has handed a message over:
    so the delivery process (~1 s to start) is up before the tick ends."""
    def stop() -> bool:
        if not any(pid != os.getpid() for pid, _ in recorder.lines()):
            time.sleep(0.1)
        return False
    return stop


def test_auto_stays_in_process_for_a_small_tick(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    populate(config, 5)
    recorder = FileRecorder(tmp_path / "recorded.txt")
    report = _tick(config, T0, adapters={"email": recorder})
    assert report.delivered == 5 and report.delivery_process is None
    assert {pid for pid, _ in recorder.lines()} == {os.getpid()}


def test_auto_starts_a_delivery_process_for_a_tick_that_begins_large(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(outbox_mod, "START_AFTER", 40)
    config = make_project(tmp_path)
    populate(config, 400)  # 400 pending sign-ups
    recorder = FileRecorder(tmp_path / "recorded.txt")
    report = _tick(config, T0, batch_size=20, adapters={"email": recorder}, stop=_slowly(recorder))
    info = report.delivery_process
    assert report.delivered == 400 and info["ready"] and info["error"] is None
    assert info["handed_over"] == 400  # claimed for it from the first batch, while it started
    assert Counter(key for _, key in recorder.lines()) == Counter({k: 1 for k in _rows(config)})
    assert {pid for pid, _ in recorder.lines()} != {os.getpid()}


def test_auto_starts_a_delivery_process_once_a_tick_proves_large(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(outbox_mod, "START_AFTER", 40)
    monkeypatch.setattr(outbox_mod.Outbox, "_backlog", lambda self: 0)  # as if it began small
    config = make_project(tmp_path)
    populate(config, 400)
    recorder = FileRecorder(tmp_path / "recorded.txt")
    report = _tick(config, T0, batch_size=20, adapters={"email": recorder}, stop=_slowly(recorder))
    info = report.delivery_process
    assert report.delivered == 400 and info["ready"] and info["error"] is None
    assert 0 < info["handed_over"] <= 400 - 40  # the first 40 and more were handed over in-process
    by_pid = Counter(pid for pid, _ in recorder.lines())
    assert by_pid[os.getpid()] >= 40 and len(by_pid) == 2
    assert Counter(key for _, key in recorder.lines()) == Counter({k: 1 for k in _rows(config)})


def test_a_tick_that_ends_before_its_delivery_process_is_up_delivers_itself(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(outbox_mod, "START_AFTER", 10)
    config = make_project(tmp_path)
    populate(config, 30)  # a tick of milliseconds; the process takes about a second to start
    recorder = FileRecorder(tmp_path / "recorded.txt")
    report = _tick(config, T0, adapters={"email": recorder})
    info = report.delivery_process
    assert info["started"] and not info["ready"] and info["error"] is None and info["taken_back"] == 30
    assert report.delivered == 30 and report.recovered == 0
    assert {pid for pid, _ in recorder.lines()} == {os.getpid()}
    rows = _rows(config)
    assert Counter(key for _, key in recorder.lines()) == Counter({k: 1 for k in rows})
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("delivered", 1)}  # its claim undone


# ---------------------------------------------------------------- failures

def test_a_killed_delivery_process_loses_nothing(tmp_path: Path) -> None:
    n = 200
    config = make_project(tmp_path)
    populate(config, n)
    killer = Killer(tmp_path / "recorded.txt", after=30)
    report = _tick(config, T0, delivery="process", batch_size=20, adapters={"email": killer})
    assert Path(killer.path + ".killed").exists()
    info = report.delivery_process
    assert "died" in info["error"] and info["taken_back"] >= 1
    assert report.delivered == n and report.failed == 0  # the tick delivered the rest itself
    rows = _rows(config)
    assert {r["status"] for r in rows.values()} == {"delivered"}
    recorded = Counter(key for _, key in killer.lines())
    assert set(recorded) == set(rows)  # nothing lost
    for key, times in recorded.items():  # twice only if handed over again after the kill
        assert times == 1 or rows[key]["attempts"] >= times


def test_a_killed_delivery_process_leaves_its_messages_to_the_next_tick(tmp_path: Path) -> None:
    n = 200
    config = make_project(tmp_path)
    populate(config, n)
    killer = Killer(tmp_path / "recorded.txt", after=30)
    flag = Path(killer.path + ".killed")
    report = _tick(config, T0, delivery="process", batch_size=20, adapters={"email": killer}, stop=flag.exists)
    assert flag.exists() and report.interrupted and "died" in report.delivery_process["error"]
    rows = _rows(config)
    left = {k for k, r in rows.items() if r["status"] != "delivered"}
    assert left and {rows[k]["status"] for k in left} == {"pending"}  # taken back, not stuck in `sending`
    assert report.delivered == len(rows) - len(left)  # (the stopped tick did not run every step)
    recorder = FileRecorder(tmp_path / "recorded.txt")
    _tick(config, T0 + timedelta(minutes=1), delivery="inline", adapters={"email": recorder})
    rows = _rows(config)
    assert {r["status"] for r in rows.values()} == {"delivered"}
    assert set(key for _, key in recorder.lines()) == set(rows)


def _forked_tick(config: str, now_iso: str) -> None:
    from fsl.runtime.runtime import Runtime
    from fsl.timecalc import parse_instant

    rt = Runtime.open(config, batch_size=20, delivery="process")
    rt.tick(parse_instant(now_iso))
    rt.close()
    os._exit(0)


def test_sigkilled_ticks_with_delivery_processes_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    n, kills_wanted = 800, 8
    arrivals_file = tmp_path / "arrivals.jsonl"
    port, server = smtp_sink_process(arrivals_file)
    try:
        config = make_project(tmp_path, port=port, attempts=8)
        populate(config, n)
        now = (T0 + timedelta(days=1, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")  # both steps due
        rng = random.Random(20261124)
        fork = mp.get_context("fork")
        kills = 0
        for _ in range(3 * kills_wanted):
            if kills >= kills_wanted:
                break
            child = fork.Process(target=_forked_tick, args=(str(config), now))
            child.start()
            time.sleep(rng.uniform(0.3, 1.8))  # its delivery process is up after ~1 s: before, during, after
            os.kill(child.pid, signal.SIGKILL)
            child.join()
            kills += child.exitcode == -signal.SIGKILL
        done = fork.Process(target=_forked_tick, args=(str(config), now))
        done.start()
        done.join(180)
        assert done.exitcode == 0
        time.sleep(0.2)
    finally:
        server.kill()
        server.join()
    assert kills >= kills_wanted // 2  # most ticks were killed, not finished
    rows = _rows(config)
    sends = {k: r for k, r in rows.items() if r["kind"] == "send"}
    assert len(sends) == 2 * n and {r["status"] for r in rows.values()} == {"delivered"}
    arrivals = [json.loads(line) for line in arrivals_file.read_text().splitlines()]
    by_id = Counter(a["message_id"] for a in arrivals)
    want = {message_id(k, "acme.example"): r for k, r in sends.items()}
    assert set(by_id) == set(want)  # nothing lost; counting by Message-ID, once each
    for mid, times in by_id.items():  # raw duplicates only for rows handed over again
        assert times == 1 or want[mid]["attempts"] >= times
    assert len(arrivals) - 2 * n <= kills  # a kill leaves at most one message in the unknown window
    rt = runtime(config)
    with rt.db.read() as conn:
        tasks = conn.execute(sa.text("SELECT count(*), count(DISTINCT action_key) FROM tasks")).one()
        executed = Counter(tuple(r) for r in conn.execute(sa.text(
            "SELECT enrollment, step FROM journal WHERE kind = 'executed'")))
        last = json.loads(conn.execute(sa.text("SELECT report FROM ticks WHERE report IS NOT NULL "
                                               "ORDER BY id DESC LIMIT 1")).scalar())
    rt.close()
    assert tuple(tasks) == (n, n) and set(executed.values()) == {1} and len(executed) == 2 * n
    assert last["delivery_process"]["ready"] and last["delivery_process"]["error"] is None
    print(f"\n{kills} kills; {2 * n} messages; {len(arrivals)} raw arrivals; "
          f"{sum(1 for r in rows.values() if r['attempts'] > 1)} rows handed over again")


# ---------------------------------------------------------------- the pieces

def _engine_batches(db: str, folder: str, started, n: int) -> None:
    """Back-to-back write transactions of ~20 ms each, as the engine's batches."""
    from fsl.store.turns import Turns

    con = sqlite3.connect(db, isolation_level=None, timeout=60)
    turns = Turns(folder)
    started.set()
    for _ in range(n):
        with turns.tick():
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO w (who) VALUES ('engine')")
            end = time.perf_counter() + 0.02
            while time.perf_counter() < end:
                pass
            con.execute("COMMIT")


def test_write_turns_let_the_delivery_process_in_between_engine_batches(tmp_path: Path) -> None:
    """Without them SQLite's busy handler (sleep, try once) starves the second
    writer until the engine stops; with them it waits one batch at most."""
    from fsl.store.turns import Turns

    db = str(tmp_path / "w.db")
    con = sqlite3.connect(db, isolation_level=None, timeout=60)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, who TEXT)")
    turns = Turns.create()
    try:
        ctx = mp.get_context("spawn")
        started = ctx.Event()
        engine = ctx.Process(target=_engine_batches, args=(db, turns.folder, started, 60))
        engine.start()
        assert started.wait(30)
        time.sleep(0.1)
        for _ in range(3):
            with turns.delivery():
                con.execute("BEGIN IMMEDIATE")
                con.execute("INSERT INTO w (who) VALUES ('delivery')")
                con.execute("COMMIT")
        engine.join(60)
        who = [r[0] for r in con.execute("SELECT who FROM w ORDER BY id")]
    finally:
        turns.close(remove=True)
    assert who.count("delivery") == 3 and who.count("engine") == 60
    assert who[-1] == "engine" and who.index("delivery") < 30  # in between, not after the engine


def test_a_dead_unreaped_claimer_is_not_alive(tmp_path: Path) -> None:
    """A killed delivery process is a zombie until the tick reaps it: its claims are free."""
    proc = subprocess.Popen([sys.executable, "-c",
                             "from fsl.runtime.outbox import owner_token; print(owner_token(), flush=True); "
                             "import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        token = proc.stdout.readline().strip()
        assert owner_alive(token)
        os.kill(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not owner_alive(token)  # a zombie, not reaped yet
    finally:
        proc.kill()
        proc.wait()
    assert owner_alive(owner_token())


def test_a_delivery_process_on_postgresql_delivers_every_message_once(tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    """On PostgreSQL the process settles everything itself, in shared mode beside the tick's batches."""
    n = 150
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port)
        text = config.read_text().replace("store: sqlite:///fsl.db", f'store: "{pg_url}"')
        config.write_text(text)
        populate(config, n)
        first = _tick(config, T0, delivery="process", batch_size=20)
        assert first.delivered == n and first.delivery_process["delivered"] == n
        second = _tick(config, T0 + timedelta(days=1, minutes=5), delivery="process", batch_size=20)
        assert second.delivered == 2 * n and second.delivery_process["delivered"] == 2 * n  # tasks too
        assert second.delivery_process["error"] is None
        rows = _rows(config)
        sends = {k: r for k, r in rows.items() if r["kind"] == "send"}
        assert {r["status"] for r in rows.values()} == {"delivered"}
        by_id = smtp.sink.by_message_id()
        assert set(by_id) == {message_id(k, "acme.example") for k in sends} and set(by_id.values()) == {1}
