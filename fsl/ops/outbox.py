"""The outbox: actions recorded by the tick, handed to their channels.

Every send, task and notification is an `actions` row with status `pending`
from the moment the engine records it (in the same transaction as the
decision).  Delivery then goes batch by batch:

1. **claim** (one write transaction): the next due `pending` rows become
   `sending`, with this process as `claimed_by`, a wall-clock lease, and
   `attempts + 1`.  Committed *before* anything is handed to a channel.
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
"""
from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from fsl.delivery import NeedsModel, OutMessage, RenderFailed, policy_for, render_action, settle
from fsl.delivery.channels import AdapterPool, DeliveryResult
from fsl.delivery.message import domain_of, message_id
from fsl.store.codec import epoch
from fsl.store.rows import action_from
from fsl.store.db import insert_ignore
from fsl.store.schema import actions, tasks

if TYPE_CHECKING:
    from .runtime import Runtime, TickReport

LEASE_SECONDS = 15 * 60  # a claim older than this is taken back even if its claimer seems alive
BATCH = 200
NETWORK = ("smtp", "webhook")


# ---------------------------------------------------------------- ownership

def _start_time(pid: int) -> str:
    """The process's start time (Linux /proc), so a recycled pid is not mistaken for it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
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


def deliver(runtime: "Runtime", now: datetime, report: "TickReport", *,
            stop: Callable[[], bool] = lambda: False,
            progress: Callable[[str, int], None] | None = None, batch: int = BATCH) -> None:
    """Hand every due outbox row to its channel (see the module docstring)."""
    report.recovered += recover(runtime)
    token = owner_token()
    adapters = _Adapters(runtime)
    try:
        while not stop():
            rows = _claim(runtime, now, token, batch)
            if not rows:
                break
            _hand_over(runtime, rows, now, token, adapters, report)
            if progress is not None:
                progress("delivered", len(rows))
    finally:
        adapters.close()


def _claim(runtime: "Runtime", now: datetime, token: str, limit: int) -> list[Any]:
    a = actions.c
    with runtime.db.write() as conn:
        ids = list(conn.execute(sa.select(a.id).where(a.status == "pending", a.next_attempt_at <= epoch(now))
                                .order_by(a.next_attempt_at, a.id).limit(limit)).scalars())
        if not ids:
            return []
        conn.execute(actions.update().where(a.id.in_(ids))
                     .values(status="sending", claimed_by=token, lease_until=int(time.time()) + LEASE_SECONDS,
                             attempts=a.attempts + 1))
        return list(conn.execute(sa.select(actions).where(a.id.in_(ids)).order_by(a.next_attempt_at, a.id))
                    .mappings())


def _hand_over(runtime: "Runtime", rows: list, now: datetime, token: str, adapters: _Adapters,
               report: "TickReport") -> None:
    store = runtime.store
    with store.snapshot():
        store.prefetch_entities([r["contact"] for r in rows], [r["deal"] for r in rows if r["deal"]])
        entities = {r["id"]: (store.get_contact(r["contact"]), store.get_deal(r["deal"]) if r["deal"] else None)
                    for r in rows}
    later: list[tuple] = []
    for row in rows:
        rec, vars = action_from(row)
        contact, deal = entities[row["id"]]
        msg, result = _one(runtime, rec, vars, contact, deal, adapters)
        outcome = (row, msg, result)
        if msg is not None and adapters.settle_each(msg, runtime.config):
            _settle(runtime, [outcome], now, token, report)
        else:
            later.append(outcome)
    if later:
        _settle(runtime, later, now, token, report)


def _one(runtime: "Runtime", rec, vars, contact, deal, adapters: _Adapters) -> tuple[OutMessage | None, DeliveryResult]:
    if contact is None:
        return None, DeliveryResult("failed", f"contact {rec.contact} no longer exists")
    try:
        try:
            msg = render_action(rec, contact, deal, runtime.templates, runtime.config, vars)
        except NeedsModel as need:
            msg = _llm_message(runtime, rec, contact, need)
    except RenderFailed as exc:
        return None, DeliveryResult("failed", f"cannot render: {exc.reason}")
    adapter = adapters.get(msg)
    if adapter is None:
        return msg, DeliveryResult("failed", f"channel {msg.channel} is not configured in fsl.yaml")
    try:
        return msg, adapter.deliver(msg)
    except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the outbox
        return msg, DeliveryResult("retry", f"adapter error: {type(exc).__name__}: {exc}")


def _settle(runtime: "Runtime", outcomes: list[tuple], now: datetime, token: str,
            report: "TickReport") -> None:
    """Record the outcomes of handed-over rows that are still ours, in one transaction."""
    a = actions.c
    with runtime.db.write() as conn:
        ids = [row["id"] for row, _, _ in outcomes]
        ours = set(conn.execute(sa.select(a.id).where(a.id.in_(ids), a.status == "sending",
                                                      a.claimed_by == token)).scalars())
        updates, new_tasks = [], []
        for row, msg, result in outcomes:
            if row["id"] not in ours:
                continue  # taken back meanwhile (its lease ran out): the new claimer settles it
            channel = runtime.config.channels.get(row["channel"] or "") if row["kind"] == "send" else None
            s = settle(result, int(row["attempts"]), now, _policy(runtime, channel))
            values = {"b_id": row["id"], "status": s.status, "next_attempt_at": None, "last_error": None,
                      "delivered_at": None, "message_id": None, "claimed_by": None, "lease_until": None}
            if s.status == "delivered":
                values["delivered_at"] = epoch(now)
                if channel is not None and channel.adapter == "smtp" and msg is not None:
                    values["message_id"] = message_id(msg.key, _domain(runtime, channel))
                report.delivered += 1
                if msg is not None and _is_task(msg, channel):
                    new_tasks.append(_task_row(row, msg, now))
            elif s.status == "retry":
                values.update(status="pending", next_attempt_at=epoch(s.next_at), last_error=s.detail)
                report.retried += 1
            else:
                values["last_error"] = s.detail
                report.failed += 1
                report.failures.append({"key": row["key"], "contact": row["contact"], "playbook": row["playbook"],
                                        "step": row["step"], "channel": row["channel"], "error": s.detail})
            updates.append(values)
        if updates:
            conn.execute(actions.update().where(a.id == sa.bindparam("b_id")), updates)
        if new_tasks:
            conn.execute(insert_ignore(runtime.db, tasks), new_tasks)


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


def _task_row(row, msg: OutMessage, now: datetime) -> dict[str, Any]:
    """A delivered task, notification or task-channel send, as a to-do list row."""
    rec, _ = action_from(row)
    if msg.kind == "send":
        kind = msg.channel
    else:
        kind = msg.payload.get("task") or ("notify" if msg.kind == "notify" else rec.channel or "task")
    return {"action_key": row["key"], "enrollment": row["enrollment"], "contact": row["contact"], "deal": row["deal"],
            "playbook": row["playbook"], "step": row["step"], "kind": kind,
            "assignee": msg.to or msg.payload.get("assignee"), "subject": msg.subject, "text": msg.text,
            "due_at": epoch(rec.due or rec.at), "created_at": epoch(now), "status": "open", "done_at": None}


# ---------------------------------------------------------------- renderer: llm

def _llm_message(runtime: "Runtime", rec, contact, need: NeedsModel) -> OutMessage:
    """A `renderer: llm` send: the configured model writes it (cached in the
    store, guarded), or -- in the demo only -- its rendered prompt stands in."""
    from fsl.delivery.message import idempotency_key
    from fsl.templates import TemplateError, render_template

    channel = runtime.config.channels[rec.channel]
    payload = {"key": idempotency_key(rec), "playbook": rec.playbook, "step": rec.step, "contact": rec.contact,
               "deal": rec.deal, "template": rec.template, "contact_email": contact.fields.get("email")}
    to = contact.fields.get("email") if channel.adapter == "smtp" else contact.fields.get("phone")
    llm = runtime.config.llm
    if not runtime.llm_placeholder and llm is not None and llm.base_url and llm.model:
        return _llm_render(runtime, rec, contact, need, channel, payload, to)
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


def _llm_render(runtime: "Runtime", rec, contact, need: NeedsModel, channel, payload, to) -> OutMessage:
    from fsl.llm.client import LLMClient
    from fsl.llm.guards import GuardSettings
    from fsl.llm.render import render_llm_sync
    from fsl.store.cache import SqlRenderCache

    prog = runtime.engine().programs.get(rec.playbook)
    guards = GuardSettings.for_message(need.template, contact=contact.fields, sender=channel.settings.get("from"),
                                       offer=rec.offer, offer_max=prog.plan.offer_max if prog else None)
    outcome = render_llm_sync(need.template, need.context, guards, LLMClient(runtime.config.llm),
                              SqlRenderCache(runtime.db))
    if outcome.status != "ok" or outcome.draft is None:
        raise RenderFailed("held for review: " + "; ".join(outcome.reasons))
    return OutMessage(key=payload["key"], channel=channel.name, kind="send", to=to,
                      subject=outcome.draft.subject, text=outcome.draft.body, payload=payload)

