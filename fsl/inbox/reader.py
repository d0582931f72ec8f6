"""Reading the mailbox over IMAP (imapclient): new messages since the last UID, each recorded
and then marked, never deleted (SIGNALS.md 3).

Order per message: fetch it with BODY.PEEK[] (so `\\Seen` is left alone: people
read this mailbox too), record its events (committed), then mark it
(`$FslProcessed`, and `$FslUnmatched` when it matched nothing; or MOVE to
`processed_folder`), then store its UID.  A crash between any two steps
reads the message again next time, and its events are not recorded twice
(their dedup key comes from the Message-ID, or the content hash).  A new
UIDVALIDITY means the server renumbered the folder: its messages are read
from the start under the new number, with the same protection.
"""
from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from fsl.inbox_settings import InboxSettings
from fsl.redaction import Redactor
from fsl.retrying import backoff

from . import state
from .process import Incoming, Prepared, Processor

PROCESSED, UNMATCHED = "$FslProcessed", "$FslUnmatched"
BATCH = 100  # messages fetched, recorded in one transaction and marked per batch
NETWORK_ERRORS = (OSError, socket.timeout, ssl.SSLError, IMAPClientError)
IDLE_SLICE = 1.0  # seconds in IDLE between two looks at the folder's UIDNEXT (Reader.wait)


@dataclass
class PassReport:
    read: int = 0
    matched: int = 0
    unmatched: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)


class InboxError(Exception):
    """The mailbox could not be read (connection, TLS, login); the message names no secret."""


def connect(settings: InboxSettings) -> IMAPClient:
    """A logged-in client, per `tls` (on: implicit TLS; starttls; off) and `ca_file`."""
    context = None
    if settings.tls != "off":
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    where = f"{settings.host}:{settings.effective_port}"
    try:
        client = IMAPClient(settings.host, port=settings.effective_port, ssl=settings.tls == "on",
                            ssl_context=context, timeout=settings.timeout)
        if settings.tls == "starttls":
            client.starttls(context)
        client.login(settings.username, settings.password or "")
    except IMAPClientError as exc:
        raise InboxError(f"IMAP {where}: {_clean(exc, settings)}") from None
    except (OSError, ssl.SSLError) as exc:
        raise InboxError(f"IMAP {where}: {type(exc).__name__}: {_clean(exc, settings)}") from None
    return client


def _clean(exc: BaseException, settings: InboxSettings) -> str:
    return Redactor([settings.password])(str(exc))


class Reader:
    """One mailbox folder read into one runtime."""

    def __init__(self, runtime: Any, settings: InboxSettings, clock: Callable[[], datetime] | None = None) -> None:
        self.rt = runtime
        self.settings = settings
        self.mailbox = f"{settings.username}@{settings.host}/{settings.folder}"
        self.processor = Processor(runtime, self.mailbox)
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.client: IMAPClient | None = None
        self._next_uid = 0  # the UID the next message will get, as of the last read

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # noqa: BLE001 - a connection already gone has nothing left to close
                pass
            self.client = None

    def _client(self) -> IMAPClient:
        if self.client is None:
            self.client = connect(self.settings)
        return self.client

    def read_once(self) -> PassReport:
        """Read every message after the stored UID; raises InboxError when the server cannot be used."""
        report = PassReport()
        try:
            self._read(self._client(), report)
        except NETWORK_ERRORS as exc:
            self.close()
            raise InboxError(f"IMAP {self.settings.host}: {type(exc).__name__}: {_clean(exc, self.settings)}") from None
        return report

    def _read(self, client: IMAPClient, report: PassReport) -> None:
        selected = client.select_folder(self.settings.folder)
        uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        with self.rt.db.read() as conn:
            last = state.last_uid(conn, self.mailbox, uidvalidity)
        uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        self._next_uid = max(int(selected.get(b"UIDNEXT", 0)), uids[-1] + 1 if uids else 0)
        for start in range(0, len(uids), BATCH):
            chunk = uids[start:start + BATCH]
            fetched = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
            done = self._batch(chunk, fetched, report)
            self._mark(client, done)
            if done:
                with self.rt.db.write() as conn:
                    state.set_last_uid(conn, self.mailbox, uidvalidity, max(done), self.clock())
            if len(done) < len(chunk):
                break  # a message that failed is read again next time, and the UIDs after it with it

    def _batch(self, chunk: list[int], fetched: dict, report: PassReport) -> dict[int, bool]:
        """Prepare and commit one FETCH batch; {uid: matched} of the messages recorded, in UID
        order up to the first that failed (the UID stored never passes a message not recorded)."""
        now = self.clock()
        incoming: list[Incoming] = []
        for uid in chunk:
            data = fetched.get(uid)
            if data is None:
                continue  # expunged meanwhile by someone else
            internal = data.get(b"INTERNALDATE")
            if isinstance(internal, datetime) and internal.tzinfo is None:
                internal = internal.astimezone(timezone.utc)  # imapclient gives local naive times by default
            incoming.append(Incoming(data.get(b"BODY[]") or b"", uid, internal))
        prepared = self.processor.prepare_batch(incoming, now)
        for p in prepared:
            if p.error is not None:
                report.errors.append(f"{self.mailbox} uid {p.uid}: {p.error}; kept as unmatched")
        try:
            self.processor.commit(prepared, now)
        except Exception:  # noqa: BLE001 - find the message at fault: commit one by one
            prepared = self._one_by_one(prepared, now, report)
        for p in prepared:
            report.read += 1
            report.labels[p.outcome.label] = report.labels.get(p.outcome.label, 0) + 1
            report.events += len(p.outcome.events)
            report.matched += p.outcome.matched
            report.unmatched += not p.outcome.matched
        return {p.uid: p.outcome.matched for p in prepared if p.uid is not None}

    def _one_by_one(self, prepared: list[Prepared], now: datetime, report: PassReport) -> list[Prepared]:
        done = []
        for p in prepared:
            try:
                self.processor.commit([p], now)
            except Exception as exc:  # noqa: BLE001 - reported with where and why; the ones before it are kept
                report.errors.append(f"{self.mailbox} uid {p.uid}: {type(exc).__name__}: {str(exc)[:200]}")
                break
            done.append(p)
        return done

    def _mark(self, client: IMAPClient, done: dict[int, bool]) -> None:
        """Mark what was recorded (after its commit): keywords, or a MOVE to processed_folder."""
        if not done:
            return
        uids = sorted(done)
        client.add_flags(uids, [PROCESSED], silent=True)
        unmatched = [u for u in uids if not done[u]]
        if unmatched:
            client.add_flags(unmatched, [UNMATCHED], silent=True)
        target = self.settings.processed_folder
        if target:
            if not client.folder_exists(target):
                client.create_folder(target)
            if client.has_capability("MOVE"):
                client.move(uids, target)
            else:
                client.copy(uids, target)  # the original stays, marked: nothing is deleted

    def wait(self, seconds: float, stop: Callable[[], bool]) -> None:
        """Wait until mail arrives or `seconds` pass: in IDLE where the server has it, a slice
        at a time, looking at the folder's UIDNEXT before each.  A server announces a message
        once, and not always to IDLE: Dovecot let one that came as IDLE started go unsaid
        (the bench's reply waited out a 5 s IDLE), and one that came during the last read was
        announced to a command of that read, which imapclient sets aside."""
        client = self._client()
        idle = client.has_capability("IDLE")
        deadline = time.monotonic() + seconds
        while not stop() and (left := deadline - time.monotonic()) > 0:
            if self._arrived_since_read(client):
                return
            if not idle:
                time.sleep(min(IDLE_SLICE, left))
                continue
            client.idle()
            try:
                if client.idle_check(timeout=min(IDLE_SLICE, max(0.05, left))):
                    return
            finally:
                client.idle_done()

    def _arrived_since_read(self, client: IMAPClient) -> bool:
        """Whether mail came in after the last read's search (one STATUS)."""
        if not self._next_uid:
            return False
        status = client.folder_status(self.settings.folder, [b"UIDNEXT"])
        return int(status.get(b"UIDNEXT", 0)) > self._next_uid


def retry_wait(failures: int) -> float:
    """Seconds before reconnecting after `failures` failed attempts in a row."""
    return backoff(failures, base=2.0, cap=300.0, jitter=0.1)
