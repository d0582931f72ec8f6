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

Every render's `RenderOutcome.to_journal()` -- ok ones included -- becomes a
journal row (kind `llm_render`) of the action's enrollment and step.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fsl.delivery import NeedsModel, OutMessage, RenderFailed, compose_send
from fsl.llm import review as R
from fsl.llm.guards import GuardSettings
from fsl.llm.render import RenderOutcome
from fsl.store.codec import epoch
from fsl.store.schema import actions

if TYPE_CHECKING:
    from fsl.runtime.runtime import Runtime


class HeldRender(RenderFailed):
    """The render did not pass (or the model was away): hold it, never send it."""

    def __init__(self, held: R.Held) -> None:
        super().__init__("held for review: " + "; ".join(held.reasons))
        self.held = held


def guard_settings(runtime: "Runtime", rec, contact, template) -> GuardSettings:
    """The guards of one send: the template's rules, this contact, the channel's sender, the offer."""
    channel = runtime.config.channels.get(rec.channel or "")
    prog = runtime.engine().programs.get(rec.playbook)
    return GuardSettings.for_message(template, contact=contact.fields,
                                     sender=channel.settings.get("from") if channel is not None else None,
                                     offer=rec.offer, offer_max=prog.plan.offer_max if prog else None)


def render_need(runtime: "Runtime", rec, contact, need: NeedsModel, guards: GuardSettings | None = None) -> RenderOutcome:
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


def held_of(outcome: RenderOutcome) -> R.Held:
    """A held outcome as the review queue keeps it; an outage is told apart by its `model` verdict."""
    outage = any(v.guard == "model" and not v.passed for v in outcome.verdicts)
    draft = outcome.draft
    return R.Held("model_unavailable" if outage else "guards", tuple(outcome.reasons),
                  draft.subject if draft is not None else None, draft.body if draft is not None else None,
                  outcome.to_journal())


class LLMOutbox:
    """One tick's model-written sends: what each render decided, until its settle."""

    def __init__(self, runtime: "Runtime", now: datetime) -> None:
        self.runtime = runtime
        self.now = now
        self.notes: dict[str, tuple[str, Any]] = {}  # key -> (ok | approved | held, journal or Held)

    def message(self, key: str, rec, contact, need: NeedsModel) -> OutMessage:
        """The message to hand over, or HeldRender (RenderFailed) when it must not go."""
        rt = self.runtime
        with rt.db.read() as conn:
            approved = R.approved_text(conn, key)
        if approved is not None:
            review_id, subject, body = approved
            self.notes[key] = ("approved", review_id)
            return compose_send(rec, contact, rt.config, subject, body)
        outcome = render_need(rt, rec, contact, need)
        if outcome.status == "ok" and outcome.draft is not None:
            self.notes[key] = ("ok", outcome.to_journal())
            return compose_send(rec, contact, rt.config, outcome.draft.subject, outcome.draft.body)
        held = held_of(outcome)
        self.notes[key] = ("held", held)
        raise HeldRender(held)

    def settle(self, conn: Connection, key: str, delivered: bool) -> bool:
        """Inside the outbox's settle transaction, for a row still ours: journal the
        render, move its review on; True when this settled the row itself (held)."""
        note = self.notes.pop(key, None)
        if note is None:
            return False
        kind, data = note
        action = dict(conn.execute(sa.select(actions).where(actions.c.key == key)).mappings().one())
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
