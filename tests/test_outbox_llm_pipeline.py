"""The model writes the next batch while the outbox hands over this one
(fsl.runtime.llm_queue, fsl.runtime.render_loop): requests stay in flight
between batches; a stopped drain gives the prefetched batch back untouched."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.channels.base import delivered
from fsl.engine.timing import iso
from fsl.runtime.outbox import deliver
from fsl.runtime.runtime import TickReport
from fsl.store.schema import actions

from .llm_server import FakeLLMServer
from .test_outbox_llm import NOTE, PLAYBOOK
from .test_ops_support import T0, make_project, populate, runtime

BATCH = 3


class Watching:
    """A local channel that, at its first message, notes how many model
    requests the server has seen once the next batch's have arrived."""

    settle_each = False

    def __init__(self, llm: FakeLLMServer) -> None:
        self.llm = llm
        self.seen_at_first: int | None = None
        self.keys: list[str] = []

    def deliver(self, msg):
        if self.seen_at_first is None:
            deadline = time.monotonic() + 30  # safety net only: the condition normally holds at once
            while self.llm.count <= BATCH and time.monotonic() < deadline:
                time.sleep(0.005)
            self.seen_at_first = self.llm.count
        self.keys.append(msg.key)
        return delivered("recorded")

    def close(self) -> None:
        pass


def _project(tmp_path: Path, llm: FakeLLMServer, n: int) -> Path:
    config = make_project(tmp_path, playbooks={"noted": PLAYBOOK})
    (tmp_path / "templates" / "note.md").write_text(NOTE)
    config.write_text(config.read_text() + f'llm: {{base_url: "{llm.base_url}", model: fake, api_key: k}}\n')
    populate(config, n)
    rt = runtime(config)
    try:
        rt.tick(T0, deliver=False)
    finally:
        rt.close()
    return config


def _deliver(config: Path, channel) -> TickReport:
    """The outbox delivered in batches of BATCH through `channel`, as a tick does."""
    rt = runtime(config, delivery="inline")
    rt.adapters = {"email": channel}
    report = TickReport(iso(T0))
    try:
        deliver(rt, T0, report, batch=BATCH)
    finally:
        rt.close()
    return report


def test_the_next_batch_is_being_written_while_this_one_is_handed_over(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        channel = Watching(llm)
        report = _deliver(_project(tmp_path, llm, 2 * BATCH), channel)
    assert report.delivered == 2 * BATCH and len(set(channel.keys)) == 2 * BATCH
    # the first message went to its channel only after the model had the second batch
    assert channel.seen_at_first is not None and channel.seen_at_first > BATCH


def test_a_stopped_drain_gives_the_prefetched_batch_back_untouched(tmp_path: Path) -> None:
    with FakeLLMServer() as llm:
        config = _project(tmp_path, llm, 2 * BATCH)
        rt = runtime(config, delivery="inline")
        channel = Watching(llm)
        rt.adapters = {"email": channel}
        report = TickReport(iso(T0))
        try:
            deliver(rt, T0, report, stop=lambda: len(channel.keys) >= BATCH, batch=BATCH)
            with rt.db.read() as conn:
                rows = conn.execute(sa.select(actions.c.status, actions.c.attempts, actions.c.claimed_by)).all()
        finally:
            rt.close()
    assert len(channel.keys) == BATCH
    assert sorted(r.status for r in rows) == ["delivered"] * BATCH + ["pending"] * BATCH
    assert all(r.attempts == 0 and r.claimed_by is None for r in rows if r.status == "pending")


class Noting:
    """A local channel noting the contact of each message, in delivery order."""

    settle_each = False

    def __init__(self) -> None:
        self.contacts: list[str] = []

    def deliver(self, msg):
        self.contacts.append(msg.payload["contact"])
        return delivered("recorded")

    def close(self) -> None:
        pass


def test_batches_are_written_in_the_order_they_are_handed_over(tmp_path: Path) -> None:
    # Two prepared batches sharing the model's slots would both finish late and leave the model
    # idle before the third: the batch handed over next is written first, the next behind it.
    with FakeLLMServer() as llm:
        config = _project(tmp_path, llm, 3 * BATCH)
        config.write_text(config.read_text().replace("api_key: k}", "api_key: k, concurrency: 1}"))
        channel = Noting()
        report = _deliver(config, channel)
        asked = [next(c for c in channel.contacts if re.search(rf"\bUser{int(c[1:])}\b", json.dumps(r["messages"])))
                 for r in llm.requests]  # (the prompt names the contact by first name: User{n} for c{n:04d})
    assert report.delivered == 3 * BATCH
    batches = [set(channel.contacts[i:i + BATCH]) for i in range(0, 3 * BATCH, BATCH)]
    assert [set(asked[i:i + BATCH]) for i in range(0, 3 * BATCH, BATCH)] == batches

