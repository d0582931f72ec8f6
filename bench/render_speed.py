"""LLM render throughput: N renders against a loopback OpenAI-compatible server with fixed latency.

Every render goes the whole way: Jinja2 prompt, the openai SDK over HTTP,
parsing, every guard, the render cache.  The server (tests/llm_server.py)
answers each request after `--latency` seconds; with `--concurrency` requests
in flight the ideal throughput is concurrency / latency (16 / 0.2 s = 80/s),
and the ratio to it says how much our own overhead costs.  Target: >= 0.9.

By default the server runs in a child process, so its threads do not share
the GIL with the client under test; `--in-process` keeps it in this one.

    python bench/render_speed.py [--renders 1000] [--latency 0.2] [--concurrency 16] [--in-process]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fsl.config import LLMConfig  # noqa: E402
from fsl.llm import GuardSettings, LLMClient, MemoryCache, RenderJob, contact_context, render_many  # noqa: E402
from fsl.templates import parse_template  # noqa: E402
from tests.llm_server import FakeLLMServer  # noqa: E402

TEMPLATE = parse_template("""---
subject: "Next steps for {{ deal.name }}"
renderer: llm
max_words: 150
avoid: ["just checking in", "touching base"]
links:
  case_study: "https://acme.example/cases/northwind"
---
Write a short, warm follow-up to {{ contact.first_name }} {{ contact.last_name }} at {{ contact.company }}
about {{ deal.name }} (stage {{ deal.stage }}). Mention their pain point: {{ deal.pain_point }}.
""", Path("recap.md"), "recap")


def jobs(n: int) -> list[RenderJob]:
    out = []
    for i in range(n):  # every contact distinct: every render is a cache miss
        contact = {"id": f"c{i}", "first_name": f"Dana{i}", "last_name": "Lee", "company": f"Company {i}",
                   "email": f"dana{i}@example.com"}
        deal = {"name": f"Deal {i}", "stage": "demo", "pain_point": "slow onboarding"}
        context = contact_context(contact, deal=deal)
        guards = GuardSettings.for_message(TEMPLATE, contact=contact, sender="Ana Ruiz <ana@acme.example>")
        out.append(RenderJob(TEMPLATE, context, guards))
    return out


def _child(latency: float, ready: "multiprocessing.Queue[str]", stop: "multiprocessing.Event") -> None:  # type: ignore[type-arg]
    with FakeLLMServer(latency=latency) as server:
        ready.put(server.base_url)
        stop.wait()


async def run(base_url: str, n: int, concurrency: int) -> tuple[float, list[str], LLMClient]:
    config = LLMConfig(base_url=base_url, model="bench", api_key="bench-key", timeout_seconds=10,
                       concurrency=concurrency, max_retries=2)
    client = LLMClient(config)
    work = jobs(n)
    try:
        started = time.perf_counter()
        outcomes = await render_many(work, client, MemoryCache())
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
    return elapsed, [o.status for o in outcomes], client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--in-process", action="store_true", help="run the server in this process")
    args = parser.parse_args()

    if args.in_process:
        server = FakeLLMServer(latency=args.latency).start()
        base_url, stop_server = server.base_url, server.stop
    else:
        ctx = multiprocessing.get_context("spawn")
        ready, stop = ctx.Queue(), ctx.Event()
        child = ctx.Process(target=_child, args=(args.latency, ready, stop), daemon=True)
        child.start()
        base_url = ready.get(timeout=30)

        def stop_server() -> None:
            stop.set()
            child.join(timeout=10)

    try:
        elapsed, statuses, client = asyncio.run(run(base_url, args.renders, args.concurrency))
    finally:
        stop_server()

    ok = statuses.count("ok")
    rate = len(statuses) / elapsed
    ideal = args.concurrency / args.latency if args.latency > 0 else float("inf")
    print(f"renders:      {len(statuses)} ({ok} ok, {len(statuses) - ok} held), "
          f"{client.stats.requests} HTTP requests, {client.stats.retries} retries")
    print(f"server:       latency {args.latency * 1000:.0f} ms, "
          f"{'in this process' if args.in_process else 'in a child process'}")
    print(f"concurrency:  {args.concurrency}")
    print(f"elapsed:      {elapsed:.2f} s")
    print(f"renders/s:    {rate:.1f}")
    print(f"ideal:        {ideal:.1f}/s ({args.concurrency} / {args.latency:g} s)")
    print(f"ratio:        {rate / ideal:.3f}  (target >= 0.9)")
    if ok != len(statuses):
        sys.exit(1)


if __name__ == "__main__":
    main()
