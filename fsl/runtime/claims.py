"""Who holds an outbox row: claim tokens, and taking rows back from the dead.

A row being handed over is `sending`, with its claimer's token and a
wall-clock lease (outbox.py).  The token names the process (host, pid, start
time), so that a later tick can tell a claimer that died from one still at
work: `recover` takes back the rows of dead claimers and of expired leases,
`take_back` those of one claimer the tick knows is done (its delivery
process, joined or dead).
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

import sqlalchemy as sa

from fsl.store.members import one_of
from fsl.store.schema import actions
from fsl.store.writeback import WITHDRAW
from fsl.store.turns import pid_alive

from .host import RuntimeHost

CLAIM_LEASE_SECONDS = 15 * 60  # a claim older than this is taken back even if its claimer seems alive
# a claimed message that a stop or pause rule marked (fsl/store/writeback.py; fsl/runtime/withdrawal.py)
MARKED = actions.c.last_error.like(WITHDRAW + "%")
WITHDRAWN = "withdrawn: its enrollment was stopped or paused while it was claimed"



def _start_time(pid: int) -> str:
    """The process's start time (Linux /proc), so a recycled pid is not mistaken for it;
    "" for a zombie (dead, not yet reaped by its parent: a killed delivery process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return "" if fields[0] in (b"Z", b"X") else fields[19].decode()
    except (OSError, IndexError):
        return "?"


def owner_token(pid: int | None = None) -> str:
    """This process's claim token, or a child's (`pid`: the tick names its
    delivery process's token as soon as it exists)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}:{uuid.uuid4().hex[:8]}"


def owner_alive(token: str | None) -> bool:
    """False when the claimer is known to be gone (same host, process dead or replaced)."""
    if not token:
        return False
    try:
        host, pid_text, started, _ = token.rsplit(":", 3)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine: only its lease can tell
    if not pid_alive(pid):
        return False
    if not started:  # named when the process was already a zombie
        return False
    return started == "?" or _start_time(pid) == started


def recover(runtime: RuntimeHost) -> int:
    """Take back `sending` rows whose claimer died or whose lease ran out.

    A row whose hand-overs all died with their claimer (a tick killed while
    rendering or sending it) is given up once it has had its channel's
    `max_attempts`, like any failing message: else a message that kills its
    tick would be claimed again by every tick, for ever.  One that a stop or pause marked
    while it was claimed is withdrawn (`cancelled`), never handed over again."""
    wall = int(time.time())
    a = actions.c
    with runtime.db.write() as conn:
        rows = conn.execute(sa.select(a.id, a.claimed_by, a.lease_until, a.attempts, a.channel)
                            .where(a.status == "sending")).all()
        stale = [r for r in rows if (r.lease_until or 0) < wall or not owner_alive(r.claimed_by)]
        stopped = marked(conn, [r.id for r in stale])
        if stopped:  # a stop came while they were claimed: withdrawn, never handed over again
            conn.execute(actions.update().where(a.id.in_(stopped), a.status == "sending")
                         .values(status="cancelled", claimed_by=None, lease_until=None,
                                 last_error=WITHDRAWN))
        left = [r for r in stale if r.id not in stopped]
        spent = [r.id for r in left if r.attempts >= _max_attempts(runtime, r.channel)]
        again = [r.id for r in left if r.id not in set(spent)]
        if again:
            conn.execute(actions.update().where(a.id.in_(again), a.status == "sending")
                         .values(status="pending", claimed_by=None, lease_until=None,
                                 last_error="outcome unknown: the tick handing it over stopped; "
                                            "handed over again with the same Message-ID"))
        if spent:
            conn.execute(actions.update().where(a.id.in_(spent), a.status == "sending")
                         .values(status="failed", claimed_by=None, lease_until=None, next_attempt_at=None,
                                 last_error="given up: every tick that handed it over stopped before "
                                            "it settled, as many times as the channel's max_attempts"))
    return len(stale)


def marked(conn, ids: list[int]) -> set[int]:
    """The actions among `ids` that a stop or pause marked while they were claimed."""
    found: set[int] = set()
    for i in range(0, len(ids), 500):
        found.update(r[0] for r in conn.execute(sa.select(actions.c.id).where(actions.c.id.in_(ids[i:i + 500]),
                                                                               MARKED)))
    return found


def _max_attempts(runtime: RuntimeHost, channel: str | None) -> int:
    from fsl.delivery import policy_for

    found = runtime.config.channels.get(channel or "") if runtime.config is not None else None
    return policy_for(found.settings.retry if found is not None else None).max_attempts


def take_back(runtime: RuntimeHost, token: str, keys: list[str] | None = None, *, untouched: bool = False) -> int:
    """Rows still `sending` under `token` (a delivery process that is joined or
    dead), or only those of `keys`, back to `pending` for the next delivery.
    `untouched`: the process never read them, so their claim's attempt is undone."""
    a = actions.c
    chunks = [None] if keys is None else [keys[i:i + 500] for i in range(0, len(keys), 500)]
    values: dict[str, Any] = {"status": "pending", "claimed_by": None, "lease_until": None}
    if untouched:
        values["attempts"] = a.attempts - 1
    else:
        values["last_error"] = ("outcome unknown: the delivery process handing it over stopped; "
                                "handed over again with the same Message-ID")
    n = 0
    with runtime.db.write() as conn:
        for chunk in chunks:
            stmt = actions.update().where(a.status == "sending", a.claimed_by == token)
            if chunk is not None:
                stmt = stmt.where(one_of(conn, a.key, chunk))
            n += conn.execute(stmt.values(**values)).rowcount
    return n
