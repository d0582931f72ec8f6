"""The inbox's speed against a real Dovecot (SIGNALS.md 3): messages read, classified and
committed per second, and the latency from a reply's arrival in the mailbox to the stop of
its enrollment with `fsl inbox` waiting in IDLE.

Starts Dovecot (tests/mailservers.py; root, Debian's dovecot-imapd) in a temporary folder,
builds a project whose N contacts got a message (delivered to aiosmtpd on loopback, so every
send has its Message-ID), APPENDs M mixed messages (human replies, out-of-office replies with
dates, automatic replies, DSNs carrying our message, opt-outs, strangers' mail) and measures,
side by side in one run:

  * classify only: read_mail + classify over the same bytes in memory (no IMAP, no store);
  * the whole pass: Reader.read_once (FETCH, classify, match, ingest_now, flag, UID stored);
  * IDLE latency: a reader thread waits in IDLE; a reply is APPENDed and the time until its
    enrollment is ended is taken, K times.

    python bench/inbox_speed.py [--messages 10000] [--contacts 2000] [--latency 10]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from fsl.delivery.message import message_id  # noqa: E402
from fsl.inbox.classify import classify  # noqa: E402
from fsl.inbox.mail import read_mail  # noqa: E402
from fsl.inbox.reader import Reader  # noqa: E402
from fsl.inbox_settings import InboxSettings  # noqa: E402
from fsl.store.schema import enrollments  # noqa: E402
from tests.mailservers import PASSWORD, Dovecot  # noqa: E402
from tests.test_ops_support import T0, SmtpServer, make_project, populate, runtime  # noqa: E402


def build_messages(n: int, contacts: int, rng: random.Random) -> list[bytes]:
    out = []
    kinds = ["human"] * 40 + ["ooo"] * 20 + ["auto"] * 10 + ["dsn"] * 15 + ["stranger"] * 10 + ["optout"] * 5
    for i in range(n):
        kind = rng.choice(kinds)
        c = rng.randint(1, contacts)
        ours = message_id(f"{c}:hello:0:0", "acme.example")
        m = EmailMessage()
        m["To"] = "hello@acme.example"  # the channel's address: the project has no reply_to
        m["Date"] = format_datetime(T0 + timedelta(minutes=5 + i % 50))
        m["Message-ID"] = f"<bench-{i}@client.example>"
        if kind == "dsn":
            out.append(_dsn(i, c, ours, m["Date"]))
            continue
        m["From"] = f"user{c}@example.com" if kind != "stranger" else f"someone{i}@elsewhere.example"
        if kind != "stranger":  # a stranger writing into the thread would be a forward
            m["In-Reply-To"] = ours
        if kind == "human":
            m["Subject"] = f"Re: Hello User{c}"
            m.set_content("Thanks, let's talk next week.\n\nOn Mon, Acme wrote:\n> Hi, welcome aboard.\n> Unsubscribe")
        elif kind == "ooo":
            m["Subject"] = f"Automatic reply: Hello User{c}"
            m["Auto-Submitted"] = "auto-replied"
            m["X-Auto-Response-Suppress"] = "All"
            m.set_content(rng.choice([
                "I am out of the office until Monday, December 14, 2026.",
                "Ich bin bis einschließlich 18.12.2026 nicht im Büro.",
                "Je suis absent et serai de retour le 4 janvier 2027.",
                "您好，我目前休假中，将于2026年12月14日返回办公室。"]))
        elif kind == "auto":
            m["Subject"] = f"Re: Hello User{c}"
            m["Auto-Submitted"] = "auto-replied"
            m.set_content("We received your message; ticket 4821 was opened.")
        elif kind == "optout":
            m["Subject"] = f"Re: Hello User{c}"
            m.set_content("Please remove me from your list.")
        else:
            m["Subject"] = "A question"
            m.set_content("Who are you?")
        out.append(m.as_bytes())
    return out


def _dsn(i: int, c: int, ours: str, date: str) -> bytes:
    """Postfix's shape: a multipart/report with the delivery status and our message returned."""
    return (f"From: MAILER-DAEMON@mx.client.example (Mail Delivery System)\r\nTo: replies@acme.example\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nDate: {date}\r\nMessage-ID: <dsn-{i}@mx>\r\n"
            "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered to one or more recipients.\r\n"
            "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
            f"Final-Recipient: rfc822; user{c}@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
            f"--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: hello@acme.example\r\nTo: user{c}@example.com\r\n"
            f"Message-ID: {ours}\r\nSubject: Hello\r\n\r\nHi\r\n--B--\r\n").encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--contacts", type=int, default=2_000)
    ap.add_argument("--latency", type=int, default=10, help="replies timed with IDLE")
    args = ap.parse_args()
    rng = random.Random(11)
    work = Path(tempfile.mkdtemp(prefix="fsl-inbox-bench-"))
    work.chmod(0o755)  # Dovecot's unprivileged processes read below it
    dovecot = Dovecot(work / "mail", ["replies"]).start()
    try:
        project = work / "project"
        project.mkdir()
        with SmtpServer() as smtp:
            config = make_project(project, port=smtp.port)
            populate(config, args.contacts + args.latency)
            rt = runtime(config)
            try:
                rt.tick(T0 + timedelta(minutes=1))
            finally:
                rt.close()
        messages = build_messages(args.messages, args.contacts, rng)
        settings = InboxSettings(host="127.0.0.1", port=dovecot.port, tls="off", username="replies", password=PASSWORD)

        started, cpu0 = time.perf_counter(), time.process_time()
        for raw in messages:
            classify(read_mail(raw), own=frozenset({"hello@acme.example"}))
        classify_rate = len(messages) / (time.perf_counter() - started)
        classify_cpu_rate = len(messages) / (time.process_time() - cpu0)

        reader = Reader(runtime(config), settings, clock=lambda: T0 + timedelta(hours=2))
        client = reader._client()
        t = time.perf_counter()
        for start in range(0, len(messages), 500):  # MULTIAPPEND (RFC 3502): 500 messages a command
            client.multiappend("INBOX", messages[start:start + 500])
        append_s = time.perf_counter() - t
        cpu, wall = time.process_time(), time.perf_counter()
        report = reader.read_once()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        reader.close()
        reader.rt.close()
        latencies = idle_latency(config, settings, dovecot, args.contacts, args.latency)
        print(json.dumps({
            "messages": len(messages), "contacts": args.contacts, "labels": report.labels,
            "matched": report.matched, "unmatched": report.unmatched, "events": report.events,
            "errors": len(report.errors),
            "append_s": round(append_s, 2),
            "classify_only_per_s": round(classify_rate),
            "classify_only_per_cpu_s": round(classify_cpu_rate),
            "read_classify_commit_per_s": round(report.read / wall),
            "read_classify_commit_per_cpu_s": round(report.read / cpu),
            "whole_pass_vs_classify_only_cpu": round((report.read / cpu) / classify_cpu_rate, 3),
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "idle_latency_ms": {"median": round(statistics.median(latencies) * 1000),
                                "max": round(max(latencies) * 1000), "n": len(latencies)},
        }, indent=1))
    finally:
        dovecot.stop()
        shutil.rmtree(work, ignore_errors=True)


def idle_latency(config: Path, settings: InboxSettings, dovecot: Dovecot, first: int, n: int) -> list[float]:
    """A reader thread waits in IDLE; each reply is APPENDed and timed until its enrollment ends."""
    stop = threading.Event()
    rt = runtime(config)
    reader = Reader(rt, settings)

    def loop() -> None:
        while not stop.is_set():
            reader.read_once()
            reader.wait(5.0, stop.is_set)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    time.sleep(1.0)  # the first pass over the mailbox is done before the first reply
    from imapclient import IMAPClient

    writer = IMAPClient("127.0.0.1", port=dovecot.port, ssl=False)
    writer.login("replies", PASSWORD)
    out = []
    try:
        for k in range(n):
            c = first + 1 + k
            m = EmailMessage()
            m["From"], m["To"], m["Subject"] = f"user{c}@example.com", "replies@acme.example", f"Re: Hello User{c}"
            m["Message-ID"], m["In-Reply-To"] = f"<lat-{k}@x>", message_id(f"{c}:hello:0:0", "acme.example")
            m.set_content("Yes, call me.")
            t = time.perf_counter()
            writer.append("INBOX", m.as_bytes())
            deadline = t + 30
            while time.perf_counter() < deadline:
                with rt.db.read() as conn:
                    status = conn.execute(sa.select(enrollments.c.status).where(enrollments.c.contact == f"c{c:04d}")).scalar()
                if status == "ended":
                    break
                time.sleep(0.005)
            out.append(time.perf_counter() - t)
    finally:
        writer.logout()
        stop.set()
        thread.join(timeout=10)
        reader.close()
        rt.close()
    return out


if __name__ == "__main__":
    main()
