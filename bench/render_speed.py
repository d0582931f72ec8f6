"""LLM render throughput on the production path: outbox -> model -> guards -> outbox.

A project on a SQLite store with N contacts enrolled in a playbook whose one
step sends a `renderer: llm` template.  A first tick without delivery records
the N sends in the outbox; then the outbox delivers them exactly as a tick
does (fsl.runtime.outbox.deliver: claim a batch, have the model write its
messages -- one client and one event loop, `llm.concurrency` requests in
flight -- check every guard, hand over to a recording channel, settle with
the journal entries) and that part is timed.  The model is an
OpenAI-compatible server on loopback (tests/llm_server.py) answering each
request after `--latency` seconds, so the ideal throughput is
concurrency / latency (16 / 0.2 s = 80/s); the ratio to it says what our own
overhead costs.  Target: >= 0.9.  Beside it, the same number of requests
through the same LLMClient alone (no outbox): on a busy machine the SDK and
the server already fall short of the ideal, and "outbox / client alone" is
then the share the outbox itself keeps.

By default the server runs in a child process, so its threads do not share
the GIL with the outbox under test; `--in-process` keeps it in this one.

    python bench/render_speed.py [--renders 600] [--latency 0.2] [--concurrency 16] [--in-process]
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from recorder import Recorder  # noqa: E402

import fsl.runtime.llm_queue  # noqa: E402,F401 - the openai SDK's import (1-3 s) is paid once a process, not timed here

from tests.llm_server import FakeLLMServer  # noqa: E402
from tests.test_ops_support import T0, make_project, populate, runtime  # noqa: E402

TEMPLATE = """---
subject: "Next steps for {{ contact.first_name }}"
renderer: llm
max_words: 150
avoid: ["just checking in", "touching base"]
links:
  case_study: "https://acme.example/cases/northwind"
---
Write a short, warm follow-up to {{ contact.first_name }} about getting started with Acme.
"""
PLAYBOOK = """\
playbook recap:
    enroll on signed_up
    stop on unsubscribed
    step recap:
        send email "recap"
"""


def _child(latency: float, ready, stop, counts) -> None:  # type: ignore[no-untyped-def]
    with FakeLLMServer(latency=latency) as server:
        ready.put(server.base_url)
        stop.wait()
        counts.put({"requests": server.count, "connections": server.connections,
                    "max_in_flight": server.max_in_flight})


def project(folder: Path, base_url: str, n: int, concurrency: int) -> Path:
    config = make_project(folder, playbooks={"recap": PLAYBOOK})
    (folder / "templates" / "recap.md").write_text(TEMPLATE)
    config.write_text(config.read_text() + f'llm: {{base_url: "{base_url}", model: bench, api_key: bench-key, '
                                            f'timeout: 10, concurrency: {concurrency}, max_retries: 2}}\n')
    populate(config, n)  # every contact distinct: every render is a cache miss
    rt = runtime(config)
    try:
        rt.tick(T0, deliver=False)  # the engine records the sends; the outbox has them pending
    finally:
        rt.close()
    return config


def deliver(config: Path, folder: Path) -> tuple[float, dict]:
    from fsl.runtime.outbox import deliver as outbox_deliver
    from fsl.runtime.runtime import TickReport
    from fsl.engine.timing import iso

    rt = runtime(config, delivery="inline")
    rt.adapters = {"email": Recorder(folder / "sent.txt")}
    report = TickReport(iso(T0))
    try:
        started = time.perf_counter()
        outbox_deliver(rt, T0, report)
        elapsed = time.perf_counter() - started
    finally:
        rt.close()
    return elapsed, {"delivered": report.delivered, "held": report.held, "failed": report.failed,
                     "retried": report.retried}


def client_alone(base_url: str, n: int, concurrency: int) -> float:
    """Seconds for `n` requests through the same LLMClient alone (no outbox, no store):
    the ceiling this machine, this SDK and this server allow, measured beside the outbox."""
    import asyncio

    from fsl.config import LLMConfig
    from fsl.llm.client import LLMClient

    client = LLMClient(LLMConfig(base_url=base_url, model="bench", api_key="bench-key", timeout=10,
                                 concurrency=concurrency, max_retries=2))
    messages = [{"role": "user", "content": "Write a short, warm follow-up."}]

    async def run() -> float:
        started = time.perf_counter()
        try:
            await asyncio.gather(*(client.complete(messages) for _ in range(n)))
        finally:
            await client.aclose()
        return time.perf_counter() - started

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--in-process", action="store_true", help="run the server in this process")
    args = parser.parse_args()

    if args.in_process:
        server = FakeLLMServer(latency=args.latency).start()
        base_url = server.base_url

        def stop_server() -> dict:
            server.stop()
            return {"requests": server.count, "connections": server.connections,
                    "max_in_flight": server.max_in_flight}
    else:
        ctx = multiprocessing.get_context("spawn")
        ready, stop, counts = ctx.Queue(), ctx.Event(), ctx.Queue()
        child = ctx.Process(target=_child, args=(args.latency, ready, stop, counts), daemon=True)
        child.start()
        base_url = ready.get(timeout=30)

        def stop_server() -> dict:
            stop.set()
            got = counts.get(timeout=30)
            child.join(timeout=10)
            return got

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            config = project(folder, base_url, args.renders, args.concurrency)
            elapsed, outcome = deliver(config, folder)
            bare = client_alone(base_url, args.renders, args.concurrency)
        finally:
            server_counts = stop_server()
        sent = Recorder(folder / "sent.txt").keys()

    rate = outcome["delivered"] / elapsed
    ideal = args.concurrency / args.latency if args.latency > 0 else float("inf")
    print(f"renders:      {args.renders} sends: {outcome['delivered']} delivered ({len(sent)} recorded), "
          f"{outcome['held']} held, {outcome['failed']} failed, {outcome['retried']} retried")
    print(f"server:       latency {args.latency * 1000:.0f} ms, "
          f"{'in this process' if args.in_process else 'in a child process'}; "
          f"{server_counts['requests']} HTTP requests over {server_counts['connections']} connections, "
          f"at most {server_counts['max_in_flight']} in flight")
    print(f"concurrency:  {args.concurrency}")
    print(f"elapsed:      {elapsed:.2f} s (outbox delivery: claim, model, guards, hand-over, settle)")
    print(f"renders/s:    {rate:.1f}")
    print(f"ideal:        {ideal:.1f}/s ({args.concurrency} / {args.latency:g} s)")
    print(f"ratio:        {rate / ideal:.3f}  (target >= 0.9)")
    bare_rate = args.renders / bare
    print(f"client alone: {bare_rate:.1f}/s, {bare_rate / ideal:.3f} of ideal (the same requests through the "
          f"same LLMClient, no outbox: what the SDK and server allow here)")
    print(f"outbox / client alone: {rate / bare_rate:.3f}  (what the outbox itself costs)")
    if outcome["delivered"] != args.renders:
        sys.exit(1)


if __name__ == "__main__":
    main()
