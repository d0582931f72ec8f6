"""The outbox's `renderer: llm` path: render, send what passed, hold the rest.

Why here and not in fsl/runtime/outbox.py: the outbox stays the same for every
channel; only two hooks call in -- `LLMOutbox.message` when a send needs a
model (instead of a template), and `LLMOutbox.settle` inside the outbox's
settle transaction, so that an action's new status, its review row and the
journal entries of its render commit together (a crash leaves either all
or none of them).

For one claimed send:

1. a person approved a text (`fsl review approve/edit`): that exact text
   goes out (fsl.delivery.render.compose_send), no model call -- same key,
   same Message-ID as any other send;
2. else the model writes it (fsl.llm.render: guards, at most two re-asks,
   cached in the store).  `ok` -> sent like a template's text;
3. `held` because of the guards -> the action becomes `held` with a review
   row; it is never claimed again until a person decides;
4. `held` because the model was unavailable -> the action is `pending` again
   after a backoff (fsl.llm.review.backoff), visible in `fsl review`, so the
   next tick asks again; after MAX_AUTO_ASKS outages in a row it waits for
   `fsl review retry`.

The model is asked for a whole batch at once (`LLMOutbox.prepare`, called by
the outbox before it hands the batch over): every send of the batch that a
model writes is rendered concurrently, under one event loop and through one
`LLMClient` kept for the whole tick (or delivery process), so `llm.concurrency`
bounds the requests in flight, a 429's Retry-After holds back every message,
a refused response format is learned once, and the connections are reused.
Each message's outcome is then picked up one by one as the outbox hands the
batch over; an error while rendering one message holds that message only.

Every render's `RenderOutcome.to_journal()` -- ok ones included -- becomes a
journal row (kind `llm_render`) of the action's enrollment and step.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.delivery import NeedsModel, OutMessage, RenderFailed, compose_send, render_action
from fsl.llm import review as R
from fsl.llm.client import LLMClient
from fsl.llm.guards import GuardSettings, Verdict
from fsl.llm.render import RenderOutcome, _from_cache, render_llm
from fsl.store.codec import epoch
from fsl.store.members import one_of
from fsl.store.schema import actions

from .owners import owner_of
from .host import RuntimeHost
from .render_loop import InlineLoop, ThreadLoop


class HeldRender(RenderFailed):
    """The render did not pass (or the model was away): hold it, never send it."""

    def __init__(self, held: R.Held) -> None:
        super().__init__("held for review: " + "; ".join(held.reasons))
        self.held = held


def guard_settings(runtime: RuntimeHost, rec, contact, template, engine=None) -> GuardSettings:
    """The guards of one send: the template's rules, this contact, the channel's sender, the offer.
    `engine`: the runtime's, when the caller already has it (asking costs a read of the store)."""
    channel = runtime.config.channels.get(rec.channel or "")
    prog = (engine or runtime.engine()).programs.get(rec.playbook)
    return GuardSettings.for_message(template, contact=contact.fields,
                                     sender=channel.settings.sender if channel is not None else None,
                                     offer=rec.offer, offer_max=prog.plan.offer_max if prog else None)


def render_need(runtime: RuntimeHost, rec, contact, need: NeedsModel, guards: GuardSettings | None = None) -> RenderOutcome:
    """Ask the configured model for this send (through the store's render cache).

    The context is `need.context`, built by fsl.delivery for this contact
    alone (its fields, its deal and stakeholder role, the step's offer and
    `with` values): no other contact's data can reach the prompt."""
    from fsl.llm.client import LLMClient
    from fsl.llm.render import render_llm_sync
    from fsl.store.cache import SqlRenderCache

    llm = runtime.config.llm
    if llm is None or not llm.base_url or not llm.model:
        raise RenderFailed(f"template {rec.template!r} is written by a model (renderer: llm) "
                           "and fsl.yaml configures no llm endpoint")
    guards = guards or guard_settings(runtime, rec, contact, need.template)
    return render_llm_sync(need.template, need.context, guards, LLMClient(llm), SqlRenderCache(runtime.db))


class _WriteBehind:
    """The store's render cache, its writes kept until the batch is rendered.

    Why: one write transaction for the batch instead of one per message, and
    no wait for the store's write lock (or, in a delivery process on SQLite,
    for the tick's write turn) inside the event loop, where it would stall
    every render in flight.  First writer still wins: `settle` writes the
    batch, and a render whose key another worker stored first in the meantime
    takes that text instead (checked again by the guards), as `render_llm`
    does when its own `put` loses.
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.pending: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.pending.get(key) or self.store.get(key)

    def put(self, key: str, value: str) -> str:
        return self.pending.setdefault(key, value)

    def settle(self, done: list[tuple[RenderOutcome, GuardSettings | None]]) -> list[RenderOutcome]:
        try:
            stored: dict[str, str] | None = self.store.put_many(self.pending)
        except Exception as exc:  # noqa: BLE001 - the store is away: send nothing it does not hold
            stored, why = None, f"cannot store the render: {type(exc).__name__}"
        out = []
        for outcome, guards in done:
            key = outcome.cache_key
            if not outcome.cached and outcome.status == "ok" and key in self.pending:
                if stored is None:  # sent now, a crash would have the next tick write another text
                    outcome = _outage(why)
                elif guards is not None and stored.get(key, self.pending[key]) != self.pending[key]:
                    outcome = _from_cache(stored[key], guards, key, outcome.attempts)  # another writer won
            out.append(outcome)
        return out


def _outage(reason: str) -> RenderOutcome:
    """A render that failed on our side: held as a model outage, so it is asked again later."""
    verdict = Verdict("model", False, reason)
    return RenderOutcome("held", None, (verdict,), (), (f"model: {reason}",))


def held_of(outcome: RenderOutcome) -> R.Held:
    """A held outcome as the review queue keeps it; an outage is told apart by its `model` verdict."""
    outage = any(v.guard == "model" and not v.passed for v in outcome.verdicts)
    draft = outcome.draft
    return R.Held("model_unavailable" if outage else "guards", tuple(outcome.reasons),
                  draft.subject if draft is not None else None, draft.body if draft is not None else None,
                  outcome.to_journal())


@dataclass
class _Batch:
    """Renders submitted together: their outcomes arrive all at once, and their
    cache writes are settled by the thread that collects them."""

    keys: list[str]
    todo: list[tuple]
    future: Future
    cache: "_WriteBehind"


class LLMOutbox:
    """One tick's model-written sends: one client and one event loop for all of
    them, what each render decided until its hand-over, then until its settle.

    `prepare` only submits a batch's renders (fsl.runtime.render_loop): the
    outbox may prepare the next batch before it hands over this one, so the
    model is writing while this thread delivers.  `message` waits for its
    batch's outcomes the first time one of them is needed."""

    def __init__(self, runtime: RuntimeHost, now: datetime) -> None:
        self.runtime = runtime
        self.now = now
        self.notes: dict[str, tuple[str, Any]] = {}  # key -> (ok | approved | held, journal or Held)
        self.ready: dict[str, tuple[str, Any]] = {}  # key -> (approved, (id, subject, body)) | (outcome, RenderOutcome)
        self.inflight: dict[str, _Batch] = {}  # key -> its batch, submitted and not yet collected
        self._client: LLMClient | None = None
        self._loop: ThreadLoop | InlineLoop | None = None
        self._limit: asyncio.Semaphore | None = None  # made in the loop's thread, on its first use

    def prepare(self, items: list) -> None:
        """Submit the renders of every model-written send among the outbox's `items`
        (fsl.runtime.outbox.Item) not yet submitted; returns without waiting."""
        wanted = []
        for item in items:
            if item.key in self.ready or item.key in self.inflight:
                continue
            try:
                render_action(item.rec, item.contact, item.deal, self.runtime.templates, self.runtime.config,
                              item.vars, owner_of(self.runtime, item.contact))
            except NeedsModel as need:
                wanted.append((item.key, item.rec, item.contact, need))
            except Exception:  # noqa: BLE001 - not ours: the hand-over reports it for this item
                continue
        if wanted:
            self._submit(wanted)

    def _submit(self, wanted: list[tuple]) -> None:
        with self.runtime.db.read() as conn:  # (one query for the batch, not one a send)
            for key, approved in R.approved_texts(conn, [key for key, *_ in wanted]).items():
                self.ready[key] = ("approved", approved)
        todo = [w for w in wanted if w[0] not in self.ready]
        if not todo:
            return
        from fsl.store.cache import SqlRenderCache

        cache = _WriteBehind(SqlRenderCache(self.runtime.db))
        engine = self.runtime.engine()  # read here, once for the batch: the loop's thread only renders
        future = self._loop_().submit(self._render_all(todo, engine, cache))
        batch = _Batch([w[0] for w in todo], todo, future, cache)
        for key in batch.keys:
            self.inflight[key] = batch

    def _collect(self, batch: _Batch) -> None:
        """Wait for a batch's outcomes; write its renders to the cache (this thread: the store's writer)."""
        for key in batch.keys:
            self.inflight.pop(key, None)
        try:
            done = batch.future.result()
        except Exception as exc:  # noqa: BLE001 - the loop itself failed: hold the batch as an outage
            done = [(_outage(f"render error: {type(exc).__name__}: {str(exc)[:200]}"), None) for _ in batch.todo]
        for key, outcome in zip(batch.keys, batch.cache.settle(done)):
            self.ready[key] = ("outcome", outcome)

    async def _render_all(self, todo: list[tuple], engine: Any,
                          cache: "_WriteBehind") -> list[tuple[RenderOutcome, GuardSettings | None]]:
        rt, client = self.runtime, self._model()
        # the client bounds the requests (llm.concurrency); this bounds the prompts in memory.  One
        # for every batch, taken in the order they were submitted: the batch the outbox hands over
        # next is written first, and the next one's requests fill the slots behind it (two batches
        # sharing the slots would both finish late, and the model would idle before the third)
        if self._limit is None:
            self._limit = asyncio.Semaphore(max(1, 2 * client.config.concurrency))
        limit = self._limit

        async def one(rec, contact, need: NeedsModel) -> tuple[RenderOutcome, GuardSettings | None]:
            guards = None
            async with limit:
                try:
                    guards = guard_settings(rt, rec, contact, need.template, engine)
                    return await render_llm(need.template, need.context, guards, client, cache), guards
                except Exception as exc:  # noqa: BLE001 - one message's error must not sink the batch
                    return _outage(f"render error: {type(exc).__name__}: {str(exc)[:200]}"), guards

        return list(await asyncio.gather(*(one(rec, contact, need) for _, rec, contact, need in todo)))

    def _model(self) -> LLMClient:
        if self._client is None:
            llm = self.runtime.config.llm
            if llm is None:  # the outbox makes an LLMOutbox only when a model is configured
                raise ValueError("no model configured (llm: in fsl.yaml)")
            self._client = LLMClient(llm)
        return self._client

    def _loop_(self) -> ThreadLoop | InlineLoop:
        if self._loop is None:
            self._model()  # made here, in this thread, before any coroutine uses it
            self._loop = InlineLoop() if self.runtime.db.one_connection else ThreadLoop()
        return self._loop

    def close(self) -> None:
        """Drop renders still in flight (a stopped tick's next batch), close the
        client's connections and the tick's event loop."""
        loop, self._loop = self._loop, None
        self.inflight.clear()
        if loop is not None:
            loop.close(self._client.aclose() if self._client is not None else None)

    def message(self, key: str, rec, contact, need: NeedsModel) -> OutMessage:
        """The message to hand over, or HeldRender (RenderFailed) when it must not go."""
        if key in self.inflight:
            self._collect(self.inflight[key])
        if key not in self.ready:  # not prepared with its batch: render it alone, same client and loop
            self._submit([(key, rec, contact, need)])
            if key in self.inflight:
                self._collect(self.inflight[key])
        kind, data = self.ready.pop(key)
        if kind == "approved":
            review_id, subject, body = data
            self.notes[key] = ("approved", review_id)
            return compose_send(rec, contact, self.runtime.config, subject, body,
                                owner=owner_of(self.runtime, contact))
        outcome: RenderOutcome = data
        if outcome.status == "ok" and outcome.draft is not None:
            self.notes[key] = ("ok", outcome.to_journal())
            return compose_send(rec, contact, self.runtime.config, outcome.draft.subject, outcome.draft.body,
                                owner=owner_of(self.runtime, contact))
        held = held_of(outcome)
        self.notes[key] = ("held", held)
        raise HeldRender(held)

    def rows(self, conn: Connection, keys: list[str]) -> dict[str, dict]:
        """The outbox rows of the sends among `keys` that `settle` will journal, by key,
        read in one query (the settle transaction's, before its first `settle`)."""
        noted = [key for key in keys if key in self.notes]
        out: dict[str, dict] = {}
        for start in range(0, len(noted), 500):
            q = sa.select(actions).where(one_of(conn, actions.c.key, noted[start:start + 500]))
            out.update((row["key"], dict(row)) for row in conn.execute(q).mappings())
        return out

    def settle(self, conn: Connection, key: str, delivered: bool, rows: dict[str, dict]) -> bool:
        """Inside the outbox's settle transaction, for a row still ours: journal the
        render, move its review on; True when this settled the row itself (held).
        `rows`: the outbox rows `rows()` read for the transaction."""
        note = self.notes.pop(key, None)
        if note is None:
            return False
        kind, data = note
        action = rows[key]
        at = epoch(self.now)
        if kind == "approved":
            if delivered:
                R.mark(conn, key, "sent", at, "outbox", only=("approved",))
            return False
        if kind == "ok":
            R.journal_entry(conn, action, at, "llm_render", data)
            R.mark(conn, key, "released", at, "model", "the model answered and every guard passed", only=(R.OPEN,))
            return False
        held: R.Held = data
        R.journal_entry(conn, action, at, "llm_render", held.verdicts)
        row = R.record_held(conn, action, held, at)
        if held.cause == "model_unavailable" and row["retry_at"] is not None:
            values = {"status": "pending", "next_attempt_at": row["retry_at"],
                      "last_error": "model unavailable, asking again later: " + "; ".join(held.reasons)}
        else:
            values = {"status": "held", "next_attempt_at": None,
                      "last_error": "held for review: " + "; ".join(held.reasons)}
        # attempts back to 0: re-asks of the model must not use up the channel's delivery retries
        conn.execute(actions.update().where(actions.c.key == key)
                     .values(attempts=0, claimed_by=None, lease_until=None, **values))
        return True
