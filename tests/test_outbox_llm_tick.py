"""A tick's model-written sends share one model client and one event loop.

Through the production tick (SQLite store, real SMTP and a real
OpenAI-compatible server on loopback), in-process and in a delivery process:
the tick's messages go over one connection pool, `llm.concurrency` requests in
flight at once, a 429's Retry-After holds back every message, and a server
without structured output refuses it once per tick, not once per message.
Every assertion is on the servers' counts, none on time.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .llm_server import FakeLLMServer, Reply
from .smtp_sink import SmtpSink
from .test_outbox_llm import NOTE, PLAYBOOK
from .test_ops_support import T0, make_project, populate, runtime

N = 12
CONCURRENCY = 4


def _project(tmp_path: Path, smtp_port: int, llm_url: str) -> Path:
    config = make_project(tmp_path, port=smtp_port, playbooks={"noted": PLAYBOOK})
    (tmp_path / "templates" / "note.md").write_text(NOTE)
    config.write_text(config.read_text() + f'llm: {{base_url: "{llm_url}", model: fake, api_key: k, '
                                            f'concurrency: {CONCURRENCY}, timeout: 20}}\n')
    populate(config, N)
    return config


def _tick(config: Path, delivery: str):
    # batches of 6: the tick hands its messages over in two batches (to the delivery process, or itself)
    rt = runtime(config, batch_size=6, delivery=delivery)
    try:
        return rt.tick(T0)
    finally:
        rt.close()


def _delivered(report, sink: SmtpSink, delivery: str) -> None:
    assert report.delivered == N and report.failed == 0 and report.held == 0
    assert len({m.rcpt_tos[0] for m in sink.messages}) == N
    if delivery == "process":
        assert report.delivery_process["started"] and report.delivery_process["delivered"] == N


@pytest.mark.parametrize("delivery", ["inline", "process"])
def test_one_client_and_pool_for_the_tick_with_llm_concurrency_in_flight(tmp_path: Path, delivery: str) -> None:
    with SmtpSink() as sink, FakeLLMServer(latency=0.3) as llm:
        config = _project(tmp_path, sink.port, llm.base_url)
        report = _tick(config, delivery)
        _delivered(report, sink, delivery)
        assert llm.count == N
        assert llm.max_in_flight == CONCURRENCY  # llm.concurrency, reached and never exceeded
        assert llm.connections <= CONCURRENCY  # one pool for both batches, not a connection per message


@pytest.mark.parametrize("delivery", ["inline", "process"])
def test_a_refused_response_format_is_learned_once_per_tick(tmp_path: Path, delivery: str) -> None:
    with SmtpSink() as sink, FakeLLMServer(latency=0.1, reject_formats={"json_schema"}) as llm:
        config = _project(tmp_path, sink.port, llm.base_url)
        report = _tick(config, delivery)
        _delivered(report, sink, delivery)
        assert llm.rejected == 1  # one probe refused, not one per message in flight
        assert llm.count == N + 1
        assert all(r.get("response_format", {}).get("type") == "json_object" for r in llm.requests[1:])
        assert llm.max_in_flight == CONCURRENCY  # the probe did not leave the rest one at a time


def test_a_429_seen_by_one_message_holds_back_the_others(tmp_path: Path) -> None:
    # The first request is refused while the tick's other messages wait for it
    # (the first answer proves the response format): on the server's clock, none
    # of them may arrive before its Retry-After has passed.  (Requests already in
    # flight when a 429 is sent cannot know of it: a request refused mid-flight
    # would make the count depend on timing.)
    with SmtpSink() as sink, FakeLLMServer(latency=0.2) as llm:
        llm.queue(Reply.error(429, {"Retry-After-Ms": "500"}))
        config = _project(tmp_path, sink.port, llm.base_url)
        report = _tick(config, "inline")
        _delivered(report, sink, "inline")
        assert llm.throttled == 0  # every message waited for the Retry-After one of them got ...
        assert llm.count == N + 1  # ... the refused one was asked again once ...
        assert llm.max_in_flight == CONCURRENCY  # ... and then they went together


def _render_behind(db, llm: FakeLLMServer):
    """One render through a write-behind cache on the store: (outcome, guards, cache)."""
    import asyncio

    from fsl.config import LLMConfig
    from fsl.llm import GuardSettings, LLMClient, contact_context, render_llm
    from fsl.runtime.llm_queue import _WriteBehind
    from fsl.store.cache import SqlRenderCache
    from fsl.templates import parse_template

    template = parse_template(NOTE, Path("note.md"), "note")
    guards = GuardSettings.for_message(template, contact={"email": "dana@example.com"}, sender="a@acme.example")
    client = LLMClient(LLMConfig(base_url=llm.base_url, model="fake", api_key="k"))
    cache = _WriteBehind(SqlRenderCache(db))

    async def render():
        try:
            return await render_llm(template, contact_context({"first_name": "Dana"}), guards, client, cache)
        finally:
            await client.aclose()

    return asyncio.run(render()), guards, cache


def test_the_batch_cache_keeps_first_writer_wins(tmp_path: Path) -> None:
    """The batch's renders are written to the store's cache after the batch; a text another
    worker stored for the same key meanwhile is the one used (checked by the guards again)."""
    import json

    from fsl.store import open_store
    from fsl.store.cache import SqlRenderCache

    db = open_store(f"sqlite:///{tmp_path / 'fsl.db'}")
    theirs = json.dumps({"subject": "Their subject", "body": "Their text, already sent by another worker."})
    with FakeLLMServer() as llm:
        mine, guards, cache = _render_behind(db, llm)
        assert mine.status == "ok" and not mine.cached and SqlRenderCache(db).get(mine.cache_key) is None
        SqlRenderCache(db).put(mine.cache_key, theirs)  # another worker, while this batch rendered
        [settled] = cache.settle([(mine, guards)])
    assert settled.status == "ok" and settled.cached and settled.draft.subject == "Their subject"
    assert SqlRenderCache(db).get(mine.cache_key) == theirs
    db.dispose()


def test_a_render_the_cache_cannot_keep_is_not_sent(tmp_path: Path) -> None:
    """Sent without being stored, a crash before the settle would have the next tick send
    another text under the same key: held as an outage instead, asked again later."""
    from fsl.runtime.llm_queue import held_of
    from fsl.store import open_store

    db = open_store(f"sqlite:///{tmp_path / 'fsl.db'}")
    with FakeLLMServer() as llm:
        mine, guards, cache = _render_behind(db, llm)
    with db.write() as conn:
        conn.exec_driver_sql("DROP TABLE render_cache")  # the store refuses the batch's write
    [settled] = cache.settle([(mine, guards)])
    assert settled.status == "held" and "cannot store the render" in settled.reasons[0]
    assert held_of(settled).cause == "model_unavailable"
    db.dispose()
