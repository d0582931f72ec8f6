"""`fsl serve` click throughput and latency against a bare Starlette/uvicorn app,
and provider webhook throughput (SIGNALS.md 1, 2).

Side by side in one run, on loopback, with wrk (Debian's /usr/bin/wrk):

1. the ceiling: a bare Starlette app on uvicorn (same server settings: one
   process, no access log) answering `GET /c/{token}` with a 302 (`fsl serve`
   runs with `--no-access-log` likewise);
2. `fsl serve` on a real project (SQLite store, N contacts whose `hello`
   message was recorded by a tick) answering the signed click URLs of those
   messages: each click is recorded and applied (committed) before its 302.

Reported: clicks/s of each and their ratio, wrk's p50/p99 latency, the peak
memory (VmHWM) of each server process, and that the store holds at least as
many `clicked` events as wrk counted 302s.  Then a SendGrid batch of 1,000
events (signed with an ECDSA P-256 key made here) is posted R times:
webhook events/s.

    python bench/serve_speed.py [--contacts 2000] [--seconds 10] [--connections 16] [--batches 3]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-serve-secret-0123456789abcdef"
UTC = timezone.utc
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

PLAYBOOK = """\
playbook welcome:
    enroll on signed_up
    stop on unsubscribed

    step hello:
        send email "hello"

    step followup after 3 days:
        send email "hello"
"""
TEMPLATE = """\
---
subject: "Hello {{ contact.first_name }}"
links:
  pricing: "https://acme.example/pricing?plan=pro"
---
Hi {{ contact.first_name }}, see {{ links.pricing }}.
"""
CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
events:
  signed_up: {{}}
channels:
  email: {{adapter: smtp, host: 127.0.0.1, port: 9, from: "Acme <hello@acme.example>"}}
server:
  listen: 127.0.0.1:{port}
  base_url: http://127.0.0.1:{port}
  secret: {secret}
  max_body: 2000000
webhooks:
  sendgrid: {{public_key: "{public_key}"}}
"""
LUA = """\
local paths = {}
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""
BARE = """\
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import RedirectResponse
from starlette.routing import Route

async def click(request):
    return RedirectResponse("https://acme.example/pricing?plan=pro", status_code=302)

app = Starlette(routes=[Route("/c/{token}", click, methods=["GET", "HEAD"]),
                        Route("/healthz", lambda r: RedirectResponse("/", 302))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_config=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat): on a shared machine the CPU
    each request costs is steadier than requests per second."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_memory_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) / 1024  # type: ignore[union-attr]


def project(folder: Path, port: int, contacts: int, public_key: str) -> list[str]:
    """The project, its store with `contacts` sent `hello`s; returns their outbox keys."""
    from fsl.engine.model import Contact, Event
    from fsl.runtime.deploy import deploy
    from fsl.runtime.runtime import Runtime

    (folder / "sequences").mkdir()
    (folder / "templates").mkdir()
    (folder / "sequences" / "welcome.fsl").write_text(PLAYBOOK)
    (folder / "templates" / "hello.md").write_text(TEMPLATE)
    (folder / "fsl.yaml").write_text(CONFIG.format(port=port, secret=SECRET, public_key=public_key))
    rt = Runtime.open(folder / "fsl.yaml")
    try:
        deploy(rt, [], now=T0)
        people = [Contact(f"c{i:06d}", {"id": f"c{i:06d}", "email": f"user{i}@example.com", "first_name": f"U{i}"})
                  for i in range(contacts)]
        rt.put_contacts(people, now=T0)
        rt.record_events([Event(T0, "signed_up", p.id) for p in people])
        rt.tick(T0 + timedelta(minutes=1), deliver=False)
    finally:
        rt.close()
    with sqlite3.connect(folder / "fsl.db") as conn:
        keys = [k for (k,) in conn.execute("SELECT key FROM actions WHERE kind = 'send' ORDER BY id")]
        # as a delivery would have left them: delivered, with the Message-ID the webhooks match
        conn.executemany("UPDATE actions SET status = 'delivered', message_id = ? WHERE key = ?",
                         [(f"<{k.replace(':', '.')}@bench.acme.example>", k) for k in keys])
    return keys


def wrk(url: str, paths: Path, seconds: int, connections: int, script: Path) -> dict:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url,
                          "--", str(paths)], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not found:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "requests": requests, "p50": ms("50%"), "p99": ms("99%"),
            "bad": int(errors.group(1)) if errors else 0, "socket_errors": socket_errors.group(1) if socket_errors else ""}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def sendgrid_batches(keys: list[str], n: int, batches: int, key) -> list[bytes]:
    from cryptography.hazmat.primitives import hashes  # noqa: F401 - signing happens at post time

    out = []
    stamp = int(time.time())
    for b in range(batches):
        items = []
        for i in range(n):
            k = keys[(b * n + i) % len(keys)]
            items.append({"email": f"user{i}@example.com", "timestamp": stamp, "event": ("delivered", "open")[i % 2],
                          "smtp-id": f"<{k.replace(':', '.')}@bench.acme.example>", "sg_machine_open": False,
                          "sg_event_id": f"bench-{b}-{i}", "sg_message_id": f"bench{b}x{i}.filter0001.1.2.3"})
        out.append(json.dumps(items).encode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--batches", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt install wrk)")
    import httpx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from fsl.signals import tokens

    sg_key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(sg_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
    folder = Path(tempfile.mkdtemp(prefix="fsl-serve-bench-"))
    try:
        port, bare_port = free_port(), free_port()
        print(f"setting up {args.contacts} contacts ...", flush=True)
        keys = project(folder, port, args.contacts, public)
        paths = folder / "paths.txt"
        paths.write_text("".join(f"/c/{tokens.make(SECRET, k, 0)}\n" for k in keys))
        script = folder / "clicks.lua"
        script.write_text(LUA)
        (folder / "bare.py").write_text(BARE)

        bare = subprocess.Popen([sys.executable, str(folder / "bare.py"), str(bare_port)], stderr=subprocess.DEVNULL)
        wait_listening(bare_port, bare)
        cpu = cpu_seconds(bare.pid)
        ceiling = wrk(f"http://127.0.0.1:{bare_port}", paths, args.seconds, args.connections, script)
        ceiling["cpu_ms"] = (cpu_seconds(bare.pid) - cpu) * 1000 / max(ceiling["requests"], 1)
        bare_mem = peak_memory_mb(bare.pid)
        stop(bare)

        env = dict(os.environ)
        env.pop("FSL_STORE", None)
        served = subprocess.Popen([sys.executable, "-m", "fsl", "serve", "--no-access-log"], cwd=folder, env=env,
                                  stderr=subprocess.DEVNULL)
        wait_listening(port, served)
        cpu = cpu_seconds(served.pid)
        fsl = wrk(f"http://127.0.0.1:{port}", paths, args.seconds, args.connections, script)
        fsl["cpu_ms"] = (cpu_seconds(served.pid) - cpu) * 1000 / max(fsl["requests"], 1)
        fsl_mem = peak_memory_mb(served.pid)
        with sqlite3.connect(folder / "fsl.db") as conn:
            clicked = conn.execute("SELECT count(*) FROM events WHERE type = 'clicked'").fetchone()[0]

        rates = []
        for body in sendgrid_batches(keys, 1000, args.batches, sg_key):
            stamp = str(int(time.time()))
            sig = base64.b64encode(sg_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
            started = time.perf_counter()
            answer = httpx.post(f"http://127.0.0.1:{port}/hooks/sendgrid", content=body, timeout=120, headers={
                "X-Twilio-Email-Event-Webhook-Signature": sig, "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                "Content-Type": "application/json"})
            elapsed = time.perf_counter() - started
            doc = answer.json()
            assert answer.status_code == 200 and doc["recorded"] == 1000 and doc["unmatched"] == 0, doc
            rates.append(1000 / elapsed)
        fsl_mem = max(fsl_mem, peak_memory_mb(served.pid))
        stop(served)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    ratio = fsl["rps"] / ceiling["rps"]
    print(f"\nclicks on loopback, wrk -t2 -c{args.connections} -d{args.seconds}s, {args.contacts} distinct click URLs")
    print(f"{'':24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}{'peak MB':>10}{'non-3xx':>9}")
    for name, got, mem in (("bare Starlette/uvicorn", ceiling, bare_mem), ("fsl serve (committed)", fsl, fsl_mem)):
        print(f"{name:24}{got['rps']:>10.0f}{got['p50']:>10.2f}{got['p99']:>10.2f}{got['cpu_ms']:>12.2f}"
              f"{mem:>10.1f}{got['bad']:>9}")
    print(f"ratio fsl/bare: {ratio:.2f} clicks/s (target >= 0.25), {ceiling['cpu_ms'] / fsl['cpu_ms']:.2f} by CPU "
          f"per request;   p99 {fsl['p99']:.1f} ms (target < 50 ms)   load average {os.getloadavg()[0]:.1f}")
    print(f"clicked events in the store: {clicked} (wrk counted {fsl['requests']} answers; each committed before its 302)")
    if fsl["socket_errors"]:
        print(f"wrk socket errors: {fsl['socket_errors']}")
    rates.sort()
    print(f"webhooks: SendGrid batches of 1,000 events: {rates[len(rates) // 2]:.0f} events/s median "
          f"(best {rates[-1]:.0f}, worst {rates[0]:.0f}) over {len(rates)} batches")


if __name__ == "__main__":
    main()
