"""A stop is immediate (SIGNALS.md, opening rules): once `POST /hooks/events` has
answered 2xx, no further message of the stopped enrollment reaches a channel,
even while a tick is handing that enrollment's message to the SMTP server.

Each round: a fresh batch of contacts signs up; a tick (its own runtime, in a
thread; `fsl serve` is another process) enrolls them and delivers their `hello` to a real SMTP server (aiosmtpd); as
soon as the first of them has arrived, a human reply is posted for a contact
whose message has not arrived yet (the `welcome` playbook stops on it).  The
SMTP server stamps each message when it accepts DATA; no message to that
contact may be stamped after the 2xx.  Rounds wait for conditions only.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx

from fsl.timecalc import iso

from .smtp_sink import SmtpSink, free_port
from .test_ops_support import T0, contacts, make_project, populate, runtime, signups
from .test_serve import EVENTS_TOKEN, SERVER, _env, start_server, stop

ROUNDS = 30
PER_ROUND = 25


def _wait(condition, what: str, deadline: float = 120.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.002)  # polling a condition, not waiting a fixed time


class Tick:
    """`Runtime.tick` with delivery, in a thread of its own, with its own runtime (as `fsl tick`
    has): the test goes on while it delivers.  Its failure is raised by `join`."""

    def __init__(self, config, now) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(config, now))
        self.thread.start()

    def _run(self, config, now) -> None:
        try:
            rt = runtime(config)
            try:
                rt.tick(now)
            finally:
                rt.close()
        except BaseException as exc:  # noqa: BLE001 - handed to the test by join()
            self.error = exc

    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self) -> None:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the tick did not finish"
        if self.error is not None:
            raise self.error


def _status(config, contact: str) -> tuple:
    rt = runtime(config)
    try:
        with rt.db.read() as conn:
            return conn.exec_driver_sql("SELECT status, outcome FROM enrollments WHERE contact = ?",
                                        (contact,)).one()
    finally:
        rt.close()


def _round(sink: SmtpSink, config, port: int, r: int) -> bool:
    """One round; whether the target's message was handed over (before the 2xx) or withdrawn."""
    at = T0 + timedelta(minutes=r)
    people = contacts(PER_ROUND, start=1 + r * PER_ROUND)
    addresses = {p.fields["email"]: p.id for p in people}
    rt = runtime(config)
    try:
        rt.put_contacts(people, now=at)
        rt.record_events(signups([p.id for p in people], at))
    finally:
        rt.close()
    tick = Tick(config, at + timedelta(minutes=1))

    def arrived() -> set[str]:
        with sink.lock:
            return {to for m in sink.messages for to in m.rcpt_tos if to in addresses}

    _wait(lambda: arrived() or tick.done(), "the tick's first message")
    waiting = sorted((a for a in addresses if a not in arrived()), key=lambda a: addresses[a])
    assert waiting, "every message arrived before the stop could be posted"
    target = waiting[min(r % 5, len(waiting) - 1)]  # the next on the wire, or one claimed behind it
    item = {"at": iso(at + timedelta(minutes=1)), "type": "replied", "contact": addresses[target], "kind": "human"}
    answer = httpx.post(f"http://127.0.0.1:{port}/hooks/events", json=item, timeout=60,
                        headers={"authorization": f"Bearer {EVENTS_TOKEN}"})
    answered = time.monotonic()
    assert answer.status_code == 200, answer.text
    tick.join()
    with sink.lock:
        to_target = [m.at for m in sink.messages if target in m.rcpt_tos]
    assert all(stamp < answered for stamp in to_target), f"round {r}: a message after the 2xx"
    assert len(to_target) <= 1
    assert _status(config, addresses[target]) == ("ended", "stopped")
    assert arrived() >= set(addresses) - {target}  # the others all got theirs
    return bool(to_target)


def test_no_message_of_a_stopped_enrollment_reaches_smtp_after_the_2xx(tmp_path, monkeypatch):
    with SmtpSink(data_delay=0.04) as sink:  # a slow server: the tick is still delivering when the stop comes
        config = make_project(tmp_path, port=sink.port)
        port = free_port()
        with open(config, "a") as f:
            f.write(SERVER.format(port=port))
        for name, value in _env().items():
            if name.startswith("FSL_"):
                monkeypatch.setenv(name, value)
        populate(config, 0)
        proc, log = start_server(tmp_path, port)
        try:
            outcomes = [_round(sink, config, port, r) for r in range(ROUNDS)]
        finally:
            stop(proc)
    # which way each round went (its message handed over before the answer, or withdrawn):
    # both are correct; the figures say the test exercised the race
    before = sum(outcomes)
    print(f"\n{ROUNDS} rounds: target's message handed over before the 2xx in {before}, "
          f"withdrawn in {ROUNDS - before}")
    assert "Traceback" not in log.read_text()
