"""The outbox: actions recorded by the tick, handed to their channels.

Every send, task and notification is an `actions` row with status `pending`
from the moment the engine records it (in the same transaction as the
decision).  Delivery then goes batch by batch:

1. **claim**: the row becomes `sending`, with this tick as `claimed_by`, a
   wall-clock lease, and `attempts + 1`, committed *before* anything is
   handed to a channel.  A tick claims what its engine batches record in
   the batch's own transaction (written as `sending` directly) and hands it
   over as soon as that transaction commits; other due `pending` rows
   (retries, leftovers) are claimed a batch at a time by `drain`.
2. **hand over**, outside any transaction: render (fsl.delivery.render),
   then `adapter.deliver(msg)`.  SMTP messages carry a Message-ID derived
   from the idempotency key (fsl.delivery.message.message_id).
3. **settle**: `delivered` (tasks and notifications also become rows of the
   to-do list in the same transaction), `pending` again with the next
   attempt's instant (backoff, fsl.delivery.retry), or `failed` with the
   reason; only if the row is still ours (`sending`, `claimed_by` us).
   Network channels (smtp, webhook) settle each message as soon as it is
   handed over, to keep the window of an unknown outcome to one message;
   local channels (tasks, files, recorders) settle the batch at once.

A tick killed between 1 and 3 leaves rows in `sending`.  The next delivery
takes them back (`recover`) when their claimer is dead (same host, its
process is gone) or their lease has run out, and hands them over again with
the *same* Message-ID.  What is guaranteed, precisely:

* every action is handed to its channel at least once, unless it was
  cancelled (a stop or pause rule, only while still `pending`) or failed
  after its retries;
* it is handed over more than once only if a crash (or an expired lease)
  fell between the channel accepting it and the `delivered` commit, and
  then always with the same key and Message-ID, so the receiver can drop
  the copy.  Counting by Message-ID, every key arrives exactly once.

A failing contact never blocks the others: a retry is scheduled later in
the queue (ordered by next attempt), and failures are reported.

A large tick hands its batches' actions to a delivery process instead
(delivery_process.py): claimed by the child's token rather than the tick's,
delivered and settled by the child exactly as above, while the engine goes
on with the next batches on the other core.  `Outbox._pipeline` says when.
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from fsl.delivery import NeedsModel, OutMessage, RenderFailed, policy_for, render_action, settle
from fsl.delivery.channels import AdapterPool, DeliveryResult
from fsl.delivery.message import domain_of, message_id
from fsl.runtime.model import ActionRecord, Contact, Deal
from fsl.store import bulk
from fsl.store.codec import epoch
from fsl.store.db import insert_ignore
from fsl.store.rows import action_from
from fsl.store.schema import actions, tasks

if TYPE_CHECKING:
    from .runtime import Runtime, TickReport

_SETTLED = ("status", "next_attempt_at", "last_error", "delivered_at", "message_id", "claimed_by", "lease_until")
LEASE_SECONDS = 15 * 60  # a claim older than this is taken back even if its claimer seems alive
BATCH = 200
NETWORK = ("smtp", "webhook")
# A tick starts a delivery process (delivery="auto") once it has handed over
# this many messages itself.  Why not at once: spawning costs ~0.5 s of CPU
# and ~60 MB, while 1,000 messages render in-process in ~0.03 s, so small
# ticks (and most tests) stay in-process; a tick that is this far in usually
# has thousands more, which then render on the other core.  Until the child
# is ready the tick goes on delivering itself, and a tick that ends first
# just kills it (nothing was claimed for it).
START_AFTER = 1000


# ---------------------------------------------------------------- ownership

def _start_time(pid: int) -> str:
    """The process's start time (Linux /proc), so a recycled pid is not mistaken for it;
    "" for a zombie (dead, not yet reaped by its parent: a killed delivery process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return "" if fields[0] in (b"Z", b"X") else fields[19].decode()
    except (OSError, IndexError):
        return "?"


def owner_token() -> str:
    pid = os.getpid()
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
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started == "?" or _start_time(pid) == started


def recover(runtime: "Runtime") -> int:
    """Take back `sending` rows whose claimer died or whose lease ran out."""
    wall = int(time.time())
    with runtime.db.write() as conn:
        rows = conn.execute(sa.select(actions.c.id, actions.c.claimed_by, actions.c.lease_until)
                            .where(actions.c.status == "sending")).all()
        stale = [r.id for r in rows if (r.lease_until or 0) < wall or not owner_alive(r.claimed_by)]
        if stale:
            conn.execute(actions.update().where(actions.c.id.in_(stale), actions.c.status == "sending")
                         .values(status="pending", claimed_by=None, lease_until=None,
                                 last_error="outcome unknown: the tick handing it over stopped; "
                                            "handed over again with the same Message-ID"))
    return len(stale)


def take_back(runtime: "Runtime", token: str, keys: list[str] | None = None) -> int:
    """Rows still `sending` under `token` (a delivery process that is joined or
    dead), or only those of `keys`, back to `pending` for the next delivery."""
    a = actions.c
    chunks = [None] if keys is None else [keys[i:i + 500] for i in range(0, len(keys), 500)]
    n = 0
    with runtime.db.write() as conn:
        for chunk in chunks:
            stmt = actions.update().where(a.status == "sending", a.claimed_by == token)
            if chunk is not None:
                stmt = stmt.where(a.key.in_(chunk))
            n += conn.execute(stmt.values(status="pending", claimed_by=None, lease_until=None,
                                          last_error="outcome unknown: the delivery process handing it over "
                                                     "stopped; handed over again with the same Message-ID")
                              ).rowcount
    return n


# ---------------------------------------------------------------- delivery

class _Adapters:
    """Configured channels (fsl.delivery), with overrides by channel name."""

    def __init__(self, runtime: "Runtime") -> None:
        self.pool = AdapterPool(runtime.config)
        self.overrides = runtime.adapters

    def get(self, msg: OutMessage):
        if msg.kind == "send" and msg.channel in self.overrides:
            return self.overrides[msg.channel]
        return self.pool.get(msg)

    def settle_each(self, msg: OutMessage, config) -> bool:
        if msg.kind == "send" and msg.channel in self.overrides:
            return bool(getattr(self.overrides[msg.channel], "settle_each", False))
        channel = config.channels.get(msg.channel) if msg.kind == "send" else None
        return channel is not None and channel.adapter in NETWORK

    def close(self) -> None:
        self.pool.close()


@dataclass(slots=True)
class Item:
    """One claimed action on its way to a channel."""

    key: str
    rec: ActionRecord
    vars: dict
    contact: Contact | None
    deal: Deal | None
    attempts: int  # this hand-over included


class Outbox:
    """One tick's delivery: its claim token, its channel adapters, its counts.

    The tick claims the actions each engine batch records in the batch's own
    transaction (`claim()` gives the store the token and lease) and hands
    them over as soon as that transaction commits (`hand_over_records`):
    from the objects still in memory, or by key to the tick's delivery
    process once it has one; `drain` then delivers whatever else is due
    (retries, and what an interrupted tick left behind).  The delivery
    process itself runs an Outbox too, without `recover_first`."""

    def __init__(self, runtime: "Runtime", now: datetime, report: "TickReport", *,
                 recover_first: bool = True) -> None:
        self.runtime = runtime
        self.now = now
        self.report = report
        self.token = owner_token()
        self.adapters = _Adapters(runtime)
        self._llm = None  # fsl.llm.queue.LLMOutbox, made at the first `renderer: llm` send
        self.helper = None  # delivery_process.DeliveryProcess, once this tick started one
        self._tried = False  # a tick starts at most one
        self._inline = 0  # messages this tick handed over in-process
        self._claimed_for = self.token  # the token of the claims made since the last hand-over
        if recover_first:
            report.recovered += recover(runtime)
        if getattr(runtime, "delivery", "inline") == "process":
            self._start(wait=True)

    def _llm_message(self, item: Item, need: NeedsModel) -> OutMessage:
        """A `renderer: llm` send: the model writes it behind the guards, or it
        is held for review (fsl.llm.queue); the demo's placeholder otherwise."""
        rt = self.runtime
        llm = rt.config.llm
        if rt.llm_placeholder or llm is None or not llm.base_url or not llm.model:
            return _llm_message(rt, item.rec, item.contact, need)
        if self._llm is None:
            from fsl.llm.queue import LLMOutbox

            self._llm = LLMOutbox(rt, self.now)
        return self._llm.message(item.key, item.rec, item.contact, need)

    def claim(self) -> tuple[str, int]:
        """(token, lease) of the actions an engine batch records: the delivery
        process's once it is ready, else this tick's own."""
        helper = self.helper
        self._claimed_for = helper.token if helper is not None and helper.active else self.token
        return self._claimed_for, int(time.time()) + LEASE_SECONDS

    def own_claim(self) -> tuple[str, int]:
        """(token, lease) of what this process claims to hand over itself."""
        return self.token, int(time.time()) + LEASE_SECONDS

    def close(self) -> None:
        try:
            self._retire()
        finally:
            self.adapters.close()

    def hand_over_records(self, handoff: list[tuple]) -> None:
        """Actions claimed by the engine batches committed since the last call:
        (key, record, vars, contact, deal).  All were claimed for one token:
        the delivery process starts serving claims only here, after them."""
        if handoff:
            keys = [h[0] for h in handoff]
            if self._claimed_for == self.token:
                self._inline += len(handoff)
                self.hand_over([Item(key, rec, vars or {}, contact, deal, 1)
                                for key, rec, vars, contact, deal in handoff])
            elif self.helper is None or self.helper.token != self._claimed_for:
                # claimed for a delivery process already finished (a stopped tick): due again
                self.report.recovered += take_back(self.runtime, self._claimed_for, keys)
            elif not self.helper.send(keys):
                pass  # it died: `_retire` takes its rows back
        self._pipeline()

    # ------------------------------------------------------------ the delivery process
    def _pipeline(self) -> None:
        """Start the delivery process when this tick is large (START_AFTER), and
        switch claims to it once it is ready; stop using a dead one."""
        helper = self.helper
        if helper is None:
            if (not self._tried and self._inline >= START_AFTER
                    and getattr(self.runtime, "delivery", "inline") == "auto"):
                self._start(wait=False)
        elif helper.state == "starting":
            if helper.ready():
                self._activate()
        elif not helper.active:
            self.runtime.db.gate = None

    def _start(self, wait: bool) -> None:
        from . import delivery_process as dp

        self._tried = True
        why = dp.usable(self.runtime)
        if why is None and not wait and dp.cores() < 2:
            why = "one core: nothing to overlap"  # auto only; a forced start is obeyed
        if why is not None:
            self.report.delivery_process = {"started": False, "why": why}
            return
        self.helper = dp.DeliveryProcess(self.runtime, self.now)
        if wait and self.helper.ready(dp.READY_TIMEOUT):
            self._activate()

    def _activate(self) -> None:
        if self.helper.turns is not None:  # SQLite: take write turns with it
            self.runtime.db.gate = self.helper.turns.tick

    def _retire(self) -> None:
        """Finish the delivery process, count what it did, and take back what it
        claimed and did not settle (it died, or a stopped tick never sent it)."""
        helper, self.helper = self.helper, None
        if helper is None:
            return
        try:
            result = helper.finish()
        finally:
            self.runtime.db.gate = None
        info: dict[str, Any] = {"started": True, "delivered": 0, "seconds": 0.0, "peak_mb": None,
                                "waited": helper.waited, "error": helper.error}
        if result is not None:
            r = self.report
            r.delivered += result["delivered"]
            r.retried += result["retried"]
            r.failed += result["failed"]
            r.failures.extend(result["failures"])
            info.update(delivered=result["delivered"], seconds=result["seconds"], peak_mb=result["peak_mb"])
        if helper.token is not None:
            info["taken_back"] = taken = take_back(self.runtime, helper.token)
            self.report.recovered += taken
        self.report.delivery_process = info

    def load(self, keys: list[str]) -> list[Item]:
        """The rows of `keys` still claimed by this outbox (the delivery process's side)."""
        a = actions.c
        rows: list = []
        with self.runtime.db.read() as conn:
            for i in range(0, len(keys), 500):
                rows += conn.execute(sa.select(actions).where(a.key.in_(keys[i:i + 500]), a.status == "sending",
                                                              a.claimed_by == self.token)
                                     .order_by(a.id)).mappings().all()
        return self.items_of(rows)

    def drain(self, stop: Callable[[], bool] = lambda: False,
              progress: Callable[[str, int], None] | None = None, batch: int = BATCH) -> None:
        """Every other due outbox row: claim a batch, hand it over, settle; repeat.
        The delivery process is finished first, so what it left is due again here."""
        self._retire()
        while not stop():
            items = self._claim(batch)
            if not items:
                break
            self.hand_over(items)
            if progress is not None:
                progress("delivered", len(items))

    def _claim(self, limit: int) -> list[Item]:
        a = actions.c
        with self.runtime.db.write() as conn:
            ids = list(conn.execute(sa.select(a.id).where(a.status == "pending", a.next_attempt_at <= epoch(self.now))
                                    .order_by(a.next_attempt_at, a.id).limit(limit)).scalars())
            if not ids:
                return []
            token, lease = self.own_claim()
            conn.execute(actions.update().where(a.id.in_(ids))
                         .values(status="sending", claimed_by=token, lease_until=lease, attempts=a.attempts + 1))
            rows = list(conn.execute(sa.select(actions).where(a.id.in_(ids)).order_by(a.next_attempt_at, a.id))
                        .mappings())
        return self.items_of(rows)

    def items_of(self, rows) -> list[Item]:
        """Claimed outbox rows -> items with their contacts and deals, loaded in one go."""
        store = self.runtime.store
        with store.snapshot():
            store.prefetch_entities([r["contact"] for r in rows], [r["deal"] for r in rows if r["deal"]])
            items = []
            for r in rows:
                rec, vars = action_from(r)
                items.append(Item(r["key"], rec, vars, store.get_contact(r["contact"]),
                                  store.get_deal(r["deal"]) if r["deal"] else None, int(r["attempts"])))
        return items

    def hand_over(self, items: list[Item]) -> None:
        later: list[tuple] = []
        for item in items:
            msg, result = self._one(item)
            if msg is not None and self.adapters.settle_each(msg, self.runtime.config):
                self._settle([(item, msg, result)])
            else:
                later.append((item, msg, result))
        if later:
            self._settle(later)

    def _one(self, item: Item) -> tuple[OutMessage | None, DeliveryResult]:
        rt, rec = self.runtime, item.rec
        if item.contact is None:
            return None, DeliveryResult("failed", f"contact {rec.contact} no longer exists")
        try:
            try:
                msg = render_action(rec, item.contact, item.deal, rt.templates, rt.config, item.vars)
            except NeedsModel as need:
                msg = self._llm_message(item, need)
        except RenderFailed as exc:
            return None, DeliveryResult("failed", f"cannot render: {exc.reason}")
        adapter = self.adapters.get(msg)
        if adapter is None:
            return msg, DeliveryResult("failed", f"channel {msg.channel} is not configured in fsl.yaml")
        try:
            return msg, adapter.deliver(msg)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the outbox
            return msg, DeliveryResult("retry", f"adapter error: {type(exc).__name__}: {exc}")

    def _settle(self, outcomes: list[tuple]) -> None:
        """Record the outcomes of handed-over actions still ours, in one transaction."""
        rt, report, now, a = self.runtime, self.report, self.now, actions.c
        with rt.db.write() as conn:
            keys = [item.key for item, _, _ in outcomes]
            ours = set(conn.execute(sa.select(a.key).where(a.key.in_(keys), a.status == "sending",
                                                           a.claimed_by == self.token)).scalars())
            updates, new_tasks = [], []
            for item, msg, result in outcomes:
                if item.key not in ours:
                    continue  # taken back meanwhile (its lease ran out): the new claimer settles it
                if self._llm is not None and self._llm.settle(conn, item.key, result.status == "delivered"):
                    continue  # a model-written send held for review (fsl.llm.queue)
                rec = item.rec
                channel = rt.config.channels.get(rec.channel or "") if rec.kind == "send" else None
                s = settle(result, item.attempts, now, _policy(rt, channel))
                if s.status == "delivered":
                    mid = None
                    if channel is not None and channel.adapter == "smtp" and msg is not None:
                        mid = message_id(msg.key, _domain(rt, channel))
                    updates.append(("delivered", None, None, epoch(now), mid, None, None, item.key))
                    report.delivered += 1
                    if msg is not None and _is_task(msg, channel):
                        new_tasks.append(_task_row(item, msg, now))
                elif s.status == "retry":
                    updates.append(("pending", epoch(s.next_at), s.detail, None, None, None, None, item.key))
                    report.retried += 1
                else:
                    updates.append(("failed", None, s.detail, None, None, None, None, item.key))
                    report.failed += 1
                    report.failures.append({"key": item.key, "contact": rec.contact, "playbook": rec.playbook,
                                            "step": rec.step, "channel": rec.channel, "error": s.detail})
            bulk.update(conn, actions, _SETTLED, "key", updates)
            if new_tasks:
                conn.execute(insert_ignore(rt.db, tasks), new_tasks)


def deliver(runtime: "Runtime", now: datetime, report: "TickReport", *,
            stop: Callable[[], bool] = lambda: False,
            progress: Callable[[str, int], None] | None = None, batch: int = BATCH) -> None:
    """Hand every due outbox row to its channel (see the module docstring)."""
    outbox = Outbox(runtime, now, report)
    try:
        outbox.drain(stop, progress, batch)
    finally:
        outbox.close()


def _policy(runtime: "Runtime", channel):
    key = channel.name if channel is not None else None
    cache = runtime.__dict__.setdefault("_retry_policies", {})
    if key not in cache:
        cache[key] = policy_for(channel.settings if channel is not None else None)
    return cache[key]


def _domain(runtime: "Runtime", channel) -> str | None:
    cache = runtime.__dict__.setdefault("_domains", {})
    if channel.name not in cache:
        cache[channel.name] = domain_of(channel.settings.get("from"))
    return cache[channel.name]


def _is_task(msg: OutMessage, channel) -> bool:
    return msg.kind in ("task", "notify") or (channel is not None and channel.adapter in ("task", "notify"))


def _task_row(item: Item, msg: OutMessage, now: datetime) -> dict[str, Any]:
    """A delivered task, notification or task-channel send, as a to-do list row."""
    rec = item.rec
    if msg.kind == "send":
        kind = msg.channel
    else:
        kind = msg.payload.get("task") or ("notify" if msg.kind == "notify" else rec.channel or "task")
    return {"action_key": item.key, "enrollment": rec.enrollment, "contact": rec.contact, "deal": rec.deal,
            "playbook": rec.playbook, "step": rec.step, "kind": kind,
            "assignee": msg.to or msg.payload.get("assignee"), "subject": msg.subject, "text": msg.text,
            "due_at": epoch(rec.due or rec.at), "created_at": epoch(now), "status": "open", "done_at": None}


# ---------------------------------------------------------------- renderer: llm

def _llm_message(runtime: "Runtime", rec, contact, need: NeedsModel) -> OutMessage:
    """A `renderer: llm` send without a configured model: in the demo its
    rendered prompt stands in; anywhere else it fails clearly."""
    from fsl.delivery.message import idempotency_key
    from fsl.templates import TemplateError, render_template

    channel = runtime.config.channels[rec.channel]
    payload = {"key": idempotency_key(rec), "playbook": rec.playbook, "step": rec.step, "contact": rec.contact,
               "deal": rec.deal, "template": rec.template, "contact_email": contact.fields.get("email")}
    to = contact.fields.get("email") if channel.adapter == "smtp" else contact.fields.get("phone")
    if not runtime.llm_placeholder:
        raise RenderFailed(f"template {rec.template!r} is written by a model (renderer: llm) "
                           "and fsl.yaml configures no llm endpoint")
    try:
        prompt = render_template(need.template, need.context)
    except TemplateError as exc:
        raise RenderFailed(f"{exc.message} (template line {exc.line})") from None
    text = ("[In production a model writes this message from the prompt below; "
            "no model is configured here.]\n\n" + prompt.text)
    return OutMessage(key=payload["key"], channel=channel.name, kind="send", to=to, subject=prompt.subject,
                      text=text, payload=payload)
