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
   reason; only if the row is still ours (`sending`, `claimed_by` us).  In
   the same transaction the server's verdict becomes a pending event
   (`bounced` hard / soft, `deferred`; fsl.delivery.verdict), ingested like
   any `fsl event`, and its acceptance reply is kept (`provider_id`).
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
On SQLite the outcomes of local channels are committed by the tick's next
batch (settling.Outcomes says why), so there the accepted-but-not-settled
window of a crash spans up to two batches of such messages, which these
channels absorb by key; network channels keep their one-message window.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from fsl.delivery import NeedsModel, OutMessage, RenderFailed, policy_for, render_action, settle
from fsl.delivery.channels import AdapterPool, DeliveryResult
from fsl.delivery.message import domain_of, message_id
from fsl.delivery.tracking import track
from fsl.delivery.verdict import Verdict, verdict
from fsl.engine.model import ActionRecord, Event
from fsl.engine.timing import minute_floor
from fsl.store.codec import epoch
from fsl.store.members import one_of
from fsl.store.rows import action_from, event_row
from fsl.signals.handover import TrackingUnavailable, remember, tracker_for
from fsl.store.schema import actions, enrollments, events

from .withdrawal import withdrawn_before_hand_over
from .claims import CLAIM_LEASE_SECONDS, owner_alive, owner_token, recover, take_back  # noqa: F401 - also used from here
from .host import RuntimeHost, TickReport
from .owners import owner_of
from .settling import Deferred, Item, Outcomes, Settled, count, ours, record

if TYPE_CHECKING:  # both are imported when first needed (a tick without them never loads them)
    from .delivery_process import DeliveryProcess
    from .llm_queue import LLMOutbox


BATCH = 200
FIRST_CLAIM = 32  # a drain's first batch (see drain)
NETWORK = ("smtp", "webhook")
# A tick starts a delivery process (delivery="auto") when it begins with at
# least this many due enrollments and pending events, or once it has handed
# over this many messages itself.  Why not always: starting one costs ~1 s of
# CPU (a fresh interpreter importing fsl) and ~70 MB, and until it is up
# (~1 s, some 10,000 steps of the engine) what is claimed for it waits; a
# tick whose engine ends first stops it and delivers those itself (a few us a
# message more than in-process).  Below a few thousand messages the process
# would hardly be up before the engine ends, and 5,000 messages render
# in-process in ~0.2 s: small and mid-size ticks (and most tests) stay
# in-process; a larger one renders on the other core while the engine goes on.
START_AFTER = 5000


# ---------------------------------------------------------------- delivery

class _Adapters:
    """Configured channels (fsl.delivery), with overrides by channel name."""

    def __init__(self, runtime: RuntimeHost) -> None:
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


class Outbox:
    """One tick's delivery: its claim token, its channel adapters, its counts.

    The tick claims the actions each engine batch records in the batch's own
    transaction (`claim()` gives the store the token and lease) and hands
    them over as soon as that transaction commits (`hand_over_records`):
    from the objects still in memory, or by key to the tick's delivery
    process once it has one; `drain` then delivers whatever else is due
    (retries, and what an interrupted tick left behind).  The delivery
    process itself runs an Outbox too, without `recover_first`."""

    def __init__(self, runtime: RuntimeHost, now: datetime, report: TickReport, *,
                 recover_first: bool = True, token: str | None = None) -> None:
        self.runtime = runtime
        self.now = now
        self.report = report
        self.token = token or owner_token()
        self.adapters = _Adapters(runtime)
        self._llm: LLMOutbox | None = None  # fsl.runtime.llm_queue.LLMOutbox, made at the first `renderer: llm` send
        self.helper: DeliveryProcess | None = None  # delivery_process.DeliveryProcess, once this tick started one
        self._tried = False  # a tick starts at most one
        self._inline = 0  # messages this tick handed over in-process
        self._claimed_for = self.token  # the token of the claims made since the last hand-over
        self.defer = False  # the delivery process on SQLite: outcomes of local channels go to the tick
        self.stop: Callable[[], bool] = lambda: False  # the tick's SIGTERM: hand over no further message
        if recover_first:
            report.recovered += recover(runtime)
        mode = getattr(runtime, "delivery", "inline")
        if mode == "process" or (mode == "auto" and recover_first and self._backlog() >= START_AFTER):
            self._start(wait=mode == "process")

    def _llm_message(self, item: Item, need: NeedsModel) -> OutMessage:
        """A `renderer: llm` send: the model writes it behind the guards, or it
        is held for review (fsl.runtime.llm_queue); the demo's placeholder otherwise."""
        queue = self._llm_queue()
        if queue is None:
            return _llm_message(self.runtime, item.rec, item.contact, need)
        return queue.message(item.key, item.rec, item.contact, need)

    def _llm_queue(self):
        """fsl.runtime.llm_queue.LLMOutbox (one model client and event loop for the tick), or None without a model."""
        rt = self.runtime
        llm = rt.config.llm
        if rt.llm_placeholder or llm is None or not llm.base_url or not llm.model:
            return None
        if self._llm is None:
            from .llm_queue import LLMOutbox

            self._llm = LLMOutbox(rt, self.now)
        return self._llm

    def _prepare_llm(self, items: list[Item]) -> None:
        """Have the model write the batch's `renderer: llm` sends all at once, before the hand-over."""
        templates = self.runtime.templates
        wanted = [item for item in items
                  if item.contact is not None and item.rec.kind == "send" and _by_model(templates, item.rec.template)]
        if wanted and (queue := self._llm_queue()) is not None:
            queue.prepare(wanted)

    def claim(self) -> tuple[str, int]:
        """(token, lease) of the actions an engine batch records: the delivery
        process's from its start (it may still be starting), else this tick's own."""
        helper = self.helper
        self._claimed_for = helper.token if helper is not None and helper.active else self.token
        return self._claimed_for, int(time.time()) + CLAIM_LEASE_SECONDS

    def own_claim(self) -> tuple[str, int]:
        """(token, lease) of what this process claims to hand over itself."""
        return self.token, int(time.time()) + CLAIM_LEASE_SECONDS

    def close(self) -> None:
        try:
            self._retire()
        finally:
            if self._llm is not None:
                self._llm.close()
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
                # claimed for a delivery process already finished (a stopped tick), never sent to it
                take_back(self.runtime, self._claimed_for, keys, untouched=True)
            elif not self.helper.send(keys):
                pass  # it died: `_retire` takes its rows back
        self._pipeline()

    # ------------------------------------------------------------ the delivery process
    def _pipeline(self) -> None:
        """Start the delivery process once this tick proves large (START_AFTER);
        stop taking write turns with a dead one."""
        helper = self.helper
        if helper is None:
            if (not self._tried and self._inline >= START_AFTER
                    and getattr(self.runtime, "delivery", "inline") == "auto"):
                self._start(wait=False)
        elif not helper.active:
            self.runtime.db.gate = None

    def _backlog(self) -> int:
        """Due enrollments and pending events up to `now`, counted up to
        START_AFTER (two range scans of partial indexes: an idle tick stays cheap)."""
        t, e, v = epoch(self.now), enrollments.c, events.c
        with self.runtime.db.read() as conn:
            return sum(conn.execute(sa.select(sa.func.count()).select_from(q.limit(START_AFTER).subquery())).scalar_one()
                       for q in (sa.select(e.id).where(e.wake_at <= t),
                                 sa.select(v.id).where(v.status == "pending", v.at <= t)))

    def _start(self, wait: bool) -> None:
        from . import delivery_process as dp

        self._tried = True
        why = dp.usable(self.runtime)
        if why is None and not wait and dp.cores() < 2:
            why = "one core: nothing to overlap"  # auto only; a forced start is obeyed
        if why is not None:
            self.report.delivery_process = {"started": False, "why": why}
            return
        try:
            self.helper = dp.DeliveryProcess(self.runtime, self.now)
        except OSError as exc:  # no interpreter to start (an embedded Python), no fds left, ...
            self.report.delivery_process = {"started": False, "why": f"cannot start it: {exc}"}
            return
        if self.helper.turns is not None:  # SQLite: take write turns with it
            self.runtime.db.gate = self.helper.turns.tick
        if wait:  # forced: a process that cannot start fails the tick's first batches, not its last
            self.helper.ready(dp.READY_TIMEOUT)

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
        if helper.outcomes:  # its last outcomes (also those of a process that died since)
            last = Deferred(self, helper.token, helper.take_outcomes())
            with self.runtime.db.write() as conn:
                last.write(conn)
            last.done()
        info: dict[str, Any] = {"started": True, "ready": helper.ready_seen, "handed_over": helper.handled,
                                "delivered": 0, "seconds": 0.0, "cpu": 0.0, "peak_mb": None, "waited": helper.waited,
                                "error": helper.error}
        if result is not None:
            r = self.report
            r.delivered += result["delivered"]
            r.retried += result["retried"]
            r.failed += result["failed"]
            r.held += result["held"]
            r.failures.extend(result["failures"])
            info.update(delivered=result["delivered"], seconds=result["seconds"], cpu=result["cpu"],
                        peak_mb=result["peak_mb"])
        # what it did not settle; untouched if it never came up (its claims' attempts undone)
        info["taken_back"] = taken = take_back(self.runtime, helper.token, untouched=not helper.ready_seen)
        if helper.ready_seen:
            self.report.recovered += taken
        self.report.delivery_process = info

    def load(self, keys: list[str]) -> list[Item]:
        """The rows of `keys` still claimed by this outbox (the delivery process's
        side).  Plain SQL on the driver: Core's row processing of every column
        was a tenth of this process's time per message."""
        mark = "?" if self.runtime.db.is_sqlite else "%s"
        cols = [c.name for c in actions.columns]
        rows: list = []
        with self.runtime.db.read() as conn:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                sql = (f"SELECT {', '.join(cols)} FROM actions WHERE key IN ({', '.join([mark] * len(chunk))}) "
                       f"AND status = 'sending' AND claimed_by = {mark} ORDER BY id")
                rows += [dict(zip(cols, r)) for r in conn.exec_driver_sql(sql, (*chunk, self.token))]
        return self.items_of(rows)

    def drain(self, stop: Callable[[], bool] = lambda: False,
              progress: Callable[[str, int], None] | None = None, batch: int = BATCH) -> None:
        """Every other due outbox row: claim a batch, hand it over, settle; repeat.
        The delivery process is finished first, so what it left is due again here.

        When a batch holds model-written sends, the next batch is claimed and its
        renders submitted before this one is handed over: the model writes while
        this thread delivers (fsl.runtime.llm_queue).  A stop gives the claimed
        next batch back untouched."""
        self._retire()
        self.stop = stop
        ahead: list[Item] = []
        # the first claim is small: a model starts writing its messages as soon as they are
        # claimed, while the rest of the batch is claimed behind them (fsl.runtime.llm_queue)
        size = min(batch, FIRST_CLAIM)
        while not stop():
            items = ahead or self._claim(size)
            ahead, size = [], batch
            if not items:
                break
            self._prepare_llm(items)
            if self._llm is not None and any(item.key in self._llm.inflight for item in items):
                ahead = self._claim(batch)
                self._prepare_llm(ahead)
            self.hand_over(items)
            if progress is not None:
                progress("delivered", len(items))
        if ahead:
            take_back(self.runtime, self.token, [item.key for item in ahead], untouched=True)

    def _claim(self, limit: int) -> list[Item]:
        a = actions.c
        with self.runtime.db.write() as conn:
            ids = list(conn.execute(sa.select(a.id).where(a.status == "pending", a.next_attempt_at <= epoch(self.now))
                                    .order_by(a.next_attempt_at, a.id).limit(limit)).scalars())
            if not ids:
                return []
            token, lease = self.own_claim()
            conn.execute(actions.update().where(one_of(conn, a.id, ids))
                         .values(status="sending", claimed_by=token, lease_until=lease, attempts=a.attempts + 1))
            q = sa.select(actions).where(one_of(conn, a.id, ids)).order_by(a.next_attempt_at, a.id)
            rows = list(conn.execute(q).mappings())
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
                                  store.get_deal(r["deal"]) if r["deal"] else None, int(r["attempts"]), r["id"]))
        return items

    def hand_over(self, items: list[Item]) -> "Outcomes | None":
        """Render, hand over and settle.  With `defer` (the delivery process on
        SQLite) the outcomes of batch-settled channels are returned instead of
        written: the tick writes them in its next engine batch (`Outcomes`)."""
        later: list[tuple] = []
        self._prepare_llm(items)
        for i, item in enumerate(items):
            if self.stop():  # stopped: the rest go back, their attempt undone, for the next tick
                take_back(self.runtime, self.token, [it.key for it in items[i:]], untouched=True)
                break
            if self._network(item) and withdrawn_before_hand_over(self.runtime.db, item.key, self.token):
                continue  # a stop came after the claim (SIGNALS.md: a stop is immediate; withdrawal.py)
            msg, result = self._one(item)
            if msg is not None and self.adapters.settle_each(msg, self.runtime.config):
                self._settle([(item, msg, result)])
            else:
                later.append((item, msg, result))
        if not later:
            return None
        if not self.defer:
            self._settle(later)
            return None
        llm = self._llm.notes if self._llm is not None else {}
        if any(item.key in llm for item, _, _ in later):  # model-written: settled with their review, here
            self._settle([o for o in later if o[0].key in llm])
            later = [o for o in later if o[0].key not in llm]
        out = Outcomes()
        for o in later:
            out.add(o[0], self._decide(*o))
        return out

    def _network(self, item: Item) -> bool:
        """A send to a network channel: settled one by one, so worth a last look before it goes."""
        rec = item.rec
        if rec.kind != "send":
            return False
        if rec.channel in self.adapters.overrides:
            return bool(getattr(self.adapters.overrides[rec.channel], "settle_each", False))
        channel = self.runtime.config.channels.get(rec.channel or "")
        return channel is not None and channel.adapter in NETWORK

    def _one(self, item: Item) -> tuple[OutMessage | None, DeliveryResult]:
        rt, rec = self.runtime, item.rec
        if item.contact is None:
            return None, DeliveryResult("failed", f"contact {rec.contact} no longer exists")
        try:
            tracker = tracker_for(rt.config, rec.channel) if rec.kind == "send" else None
        except TrackingUnavailable as exc:  # never untracked: it would leave without its unsubscribe link
            return None, DeliveryResult("retry", str(exc))
        try:
            try:
                unsubscribe = tracker.unsubscribe_url(item.key) if tracker is not None else None
                msg = render_action(rec, item.contact, item.deal, rt.templates, rt.config, item.vars,
                                    owner_of(rt, item.contact), unsubscribe_url=unsubscribe)
            except NeedsModel as need:
                msg = self._llm_message(item, need)
        except RenderFailed as exc:
            return None, DeliveryResult("failed", f"cannot render: {exc.reason}")
        adapter = self.adapters.get(msg)
        if adapter is None:
            return msg, DeliveryResult("failed", f"channel {msg.channel} is not configured in fsl.yaml")
        if tracker is not None:
            try:
                tracked = track(msg, tracker, _template_links(rt, rec.template))
            except Exception as exc:  # noqa: BLE001 - a message the rewrite cannot take is never sent untracked
                return None, DeliveryResult("failed", f"cannot rewrite the message for tracking: {type(exc).__name__}")
            try:  # the links are kept before the channel sees the message: a click finds them at once
                remember(rt.db, tracked, int(time.time() * 1000))  # wall clock: `server.machine.after_delivery`
            except Exception as exc:  # noqa: BLE001 - the store is unavailable: nothing was handed over
                return None, DeliveryResult("retry", f"cannot keep the tracked links: {type(exc).__name__}")
            msg = tracked.message
        try:
            return msg, adapter.deliver(msg)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not stop the outbox
            return msg, DeliveryResult("retry", f"adapter error: {type(exc).__name__}: {exc}")

    def _settle(self, outcomes: list[tuple]) -> None:
        """Record the outcomes of handed-over actions still ours, in one transaction."""
        rt = self.runtime
        with rt.db.write() as conn:
            mine = ours(conn, [item.key for item, _, _ in outcomes], self.token)
            # the rows the model-written sends journal, read at once rather than one a send
            rows = self._llm.rows(conn, list(mine)) if self._llm is not None else {}
            done = []
            for item, msg, result in outcomes:
                if item.key not in mine:
                    continue  # taken back meanwhile (its lease ran out): the new claimer settles it
                if self._llm is not None and self._llm.settle(conn, item.key, result.status == "delivered", rows):
                    self.report.held += 1  # a model-written send held for review (fsl.runtime.llm_queue)
                    continue
                done.append(self._decide(item, msg, result))
            record(rt.db, conn, done)
        count(self.report, done)

    def _decide(self, item: Item, msg: OutMessage | None, result: DeliveryResult) -> "Settled":
        """What the outcome of a hand-over makes of its row (retry policy, Message-ID, to-do item,
        the event the server's verdict records)."""
        rt, now, rec = self.runtime, self.now, item.rec
        channel = rt.config.channels.get(rec.channel or "") if rec.kind == "send" else None
        s = settle(result, item.attempts, now, _policy(rt, channel))
        if s.status == "delivered":
            mid = None
            if channel is not None and channel.adapter == "smtp" and msg is not None:
                mid = message_id(msg.key, _domain(rt, channel))
            task = _task_row(item, msg, now) if msg is not None and _is_task(msg, channel) else None
            return Settled(item.key, ("delivered", None, None, epoch(now), mid, None, None, result.reply, None,
                                      item.key), task, None)
        found = verdict(result, s)
        source = channel.adapter if channel is not None else "delivery"
        event = _verdict_event(rec, found, now, source) if found is not None else None
        bounce = found.bounce if found is not None else None
        if s.status == "retry":
            return Settled(item.key, ("pending", epoch(s.next_at), s.detail, None, None, None, None, None, None,
                                      item.key), event=event)
        failure = {"key": item.key, "contact": rec.contact, "playbook": rec.playbook, "step": rec.step,
                   "channel": rec.channel, "error": s.detail, "bounce": bounce}
        return Settled(item.key, ("failed", None, s.detail, None, None, None, None, None, bounce, item.key),
                       None, failure, event)

    def deferred(self) -> "Deferred | None":
        """The outcomes the delivery process left to the tick, for its next engine batch."""
        helper = self.helper
        if helper is None or not helper.outcomes:
            return None
        return Deferred(self, helper.token, helper.take_outcomes())


def deliver(runtime: RuntimeHost, now: datetime, report: TickReport, *,
            stop: Callable[[], bool] = lambda: False,
            progress: Callable[[str, int], None] | None = None, batch: int = BATCH) -> None:
    """Hand every due outbox row to its channel (see the module docstring)."""
    outbox = Outbox(runtime, now, report)
    try:
        outbox.drain(stop, progress, batch)
    finally:
        outbox.close()


def _template_links(runtime: RuntimeHost, template: str | None) -> dict[str, str]:
    """The template's `links:` (their tags name the clicks); {} when it no longer loads."""
    if not template or template not in runtime.templates:
        return {}
    try:
        return dict(runtime.templates.lookup(template).links)
    except Exception:  # noqa: BLE001 - rendered a moment ago; without its tags, links carry none
        return {}


def _policy(runtime: RuntimeHost, channel):
    key = channel.name if channel is not None else None
    cache = runtime.__dict__.setdefault("_retry_policies", {})
    if key not in cache:
        cache[key] = policy_for(channel.settings.retry if channel is not None else None)
    return cache[key]


def _domain(runtime: RuntimeHost, channel) -> str | None:
    cache = runtime.__dict__.setdefault("_domains", {})
    if channel.name not in cache:
        cache[channel.name] = domain_of(channel.settings.sender)
    return cache[channel.name]


def _verdict_event(rec: ActionRecord, found: Verdict, now: datetime, source: str) -> dict[str, Any]:
    """The `events` row of a server's verdict, as `fsl event` would queue it
    (pending, at the minute), naming the message's step and its enrollment:
    the tick's next pass ingests it (`stop on bounced`, ...).  `source` (the
    channel's adapter) says where it came from, as SIGNALS.md 5 asks of
    every signal; `fsl explain` shows it."""
    event = Event(minute_floor(now), found.event, rec.contact, None, rec.step, {**found.fields, "source": source},
                  enrollment=rec.enrollment)
    return event_row(event, "pending", None, int(time.time()))


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

def _by_model(templates, name: str | None) -> bool:
    """Whether the send's template is `renderer: llm` (a missing or broken one is reported by the hand-over)."""
    if not name:
        return False
    try:
        return templates.lookup(name).renderer == "llm"
    except Exception:  # noqa: BLE001 - TemplateNotFound, TemplateError, ...
        return False


def _llm_message(runtime: RuntimeHost, rec, contact, need: NeedsModel) -> OutMessage:
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
