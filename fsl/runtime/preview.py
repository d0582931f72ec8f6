"""What `fsl render` and the review commands need beyond the queue itself.

`preview_step` answers "what would STEP send to this contact now?" with the
engine's own evaluation: the playbook is compiled from the project (so an
author previews the file being edited, not what is deployed), the step runs
as a *proposal* (fsl.engine.executor.propose: branches evaluated for this
contact, its deal and its enrollment's vars, `set` and `offer` applied in
order, then everything put back), and each proposed send is rendered --
by its template, or by the model through the guards and the store's render
cache.  Template renders get the same guard verdicts (max_words, avoid,
links, ...): they are not enforced at send time, but an author wants to know.
Caps, send windows and `stop when` are not applied: the preview shows the
messages, not whether the step would be deferred.  Nothing is written to
the store except the render cache (a later real send reuses that render).

`guards_for_action` and `retry_review` serve `fsl review edit` / `retry`.
"""
from __future__ import annotations

import copy
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from fsl.delivery import NeedsModel, RenderFailed, render_action
from fsl.delivery.context import jsonable
from fsl.delivery.message import idempotency_key
from fsl.llm import review as R
from fsl.llm.guards import GuardSettings, check
from .llm_queue import guard_settings, held_of, render_need
from fsl.engine.model import ActionRecord, Enrollment
from fsl.engine.program import If, Match, Send, Split
from fsl.engine.timing import iso
from fsl.signals.handover import unsubscribe_url_for
from fsl.store.rows import action_from
from fsl.store.schema import actions

from .owners import owner_of

if TYPE_CHECKING:
    from .runtime import Runtime


class PreviewError(Exception):
    """Bad input for `fsl render` (unknown playbook, step, contact or deal): exit 2."""


# ------------------------------------------------------------------ review helpers

def _load(rt: "Runtime", action: dict) -> tuple[ActionRecord, dict, Any, Any]:
    rec, vars = action_from(action)
    with rt.store.snapshot():
        contact = rt.store.get_contact(rec.contact)
        deal = rt.store.get_deal(rec.deal) if rec.deal else None
    if contact is None:
        raise R.ReviewError(f"contact {rec.contact} no longer exists")
    return rec, vars, contact, deal


def guards_for_action(rt: "Runtime", action_id: int, subject: str, body: str) -> list[dict[str, Any]]:
    """Every guard's verdict on a text a person wrote for this send."""
    with rt.db.read() as conn:
        action = conn.execute(sa.select(actions).where(actions.c.id == action_id)).mappings().one()
    rec, _, contact, _ = _load(rt, dict(action))
    if not rec.template:  # as fsl.delivery.render says of such a send
        raise RenderFailed("the send names no template")
    template = rt.templates.lookup(rec.template)
    return [v.to_dict() for v in check(SimpleNamespace(subject=subject, body=body),
                                       guard_settings(rt, rec, contact, template))]


def prompt_for_action(rt: "Runtime", action_id: int) -> dict[str, Any]:
    """The prompt a held `renderer: llm` send was written from, and the values it was
    rendered with (the console's review page); {"error": why} when it cannot be shown."""
    from fsl.templates import TemplateError, render_template

    with rt.db.read() as conn:
        action = conn.execute(sa.select(actions).where(actions.c.id == action_id)).mappings().first()
    if action is None:
        return {"error": "the send no longer exists"}
    try:
        rec, vars, contact, deal = _load(rt, dict(action))
        render_action(rec, contact, deal, rt.templates, rt.config, vars, owner_of(rt, contact))
        return {"error": f"template {rec.template!r} is no longer written by a model"}
    except NeedsModel as need:
        try:
            rendered = render_template(need.template, need.context)
        except TemplateError as exc:
            return {"error": f"cannot render the prompt: {exc.message} (line {exc.line})",
                    "values": jsonable(need.context)}
        return {"subject": rendered.subject, "prompt": rendered.text, "values": jsonable(need.context)}
    except (RenderFailed, R.ReviewError) as exc:
        return {"error": str(getattr(exc, "reason", None) or exc)}


def stop_types(rt: "Runtime", playbook: str) -> set[str]:
    """The events whose `stop on` / `pause on` in the deployed playbook would have cancelled a pending send."""
    prog = rt.engine().programs.get(playbook)
    return set(prog.stop_on) | set(prog.pause_on) if prog is not None else set()


def retry_review(rt: "Runtime", review_id: int, by: str, force: bool = False) -> tuple[str, dict[str, Any]]:
    """Ask the model again for a held send: ("released" | "held", the render's journal record)."""
    with rt.db.read() as conn:
        review = R.get(conn, review_id)
    types = stop_types(rt, review["playbook"])
    with rt.db.read() as conn:
        review, action = R.for_retry(conn, review_id, force, types)
    rec, vars, contact, deal = _load(rt, action)
    try:
        render_action(rec, contact, deal, rt.templates, rt.config, vars, owner_of(rt, contact),
                      unsubscribe_url=unsubscribe_url_for(rt.config, rec.channel, idempotency_key(rec)))
        outcome: dict[str, Any] = {"status": "ok", "reasons": [], "verdicts": [],
                                   "note": f"template {rec.template!r} is no longer written by a model"}
        held = None
    except NeedsModel as need:
        result = render_need(rt, rec, contact, need)
        outcome = result.to_journal()
        held = None if result.status == "ok" else held_of(result)
    except RenderFailed as exc:
        raise R.ReviewError(f"message {review_id} cannot be rendered: {exc.reason}") from None
    with rt.db.write() as conn:
        review, action = R.for_retry(conn, review_id, force, types)  # again, under the write lock
        if held is None:
            R.release(conn, review, action, by, outcome)
            return "released", outcome
        R.still_held(conn, review, action, held, by)
    return "held", outcome


# ------------------------------------------------------------------ fsl render

def _sends(body: list, path: str = "") -> list[tuple[Send, str]]:
    """Every send of a step body with the branch it sits in (for the ones not taken)."""
    out: list[tuple[Send, str]] = []
    for node in body:
        if type(node) is Send:
            out.append((node, path or "the step"))
        elif type(node) is If:
            for _cond, sub, line in node.branches:
                out += _sends(sub, f"if/elif at line {line}")
            if node.orelse:
                out += _sends(node.orelse, f"else of the if at line {node.line}")
        elif type(node) is Match:
            for _values, sub, line in node.cases:
                out += _sends(sub, f"case at line {line}")
            if node.orelse:
                out += _sends(node.orelse, f"else of the match at line {node.line}")
        elif type(node) is Split:
            for name, sub, line in node.variants:
                out += _sends(sub, f"variant {name} of split {node.name} at line {line}")
    return out


def _program(rt: "Runtime", playbook: str):
    from fsl.api import compile_project
    from fsl.project import Project
    from fsl.engine.engine import Engine

    result = compile_project([], Project(rt.config, rt.templates))
    if not result.ok:
        raise PreviewError(f"the project's playbooks do not compile ({len(result.check.errors)} error(s)); "
                           "run `fsl check`")
    plans = [p for p in result.plans if p.playbook == playbook]
    if not plans:
        known = ", ".join(sorted(p.playbook for p in result.plans)) or "none"
        raise PreviewError(f"no playbook named {playbook} in the project (found: {known})")
    engine = Engine(plans, rt.config, rt.store)
    return engine, engine.programs[playbook]


def preview_step(rt: "Runtime", playbook: str, step_name: str, contact_id: str, deal_id: str | None,
                 now: datetime) -> dict[str, Any]:
    """See the module docstring; a JSON-able dict."""
    engine, prog = _program(rt, playbook)
    if step_name not in prog.step_index:
        raise PreviewError(f"playbook {playbook} has no step {step_name} (steps: {', '.join(prog.step_index)})")
    step = prog.steps[prog.step_index[step_name]]
    store = rt.store
    with store.snapshot():
        contact = store.get_contact(contact_id)
        if contact is None:
            raise PreviewError(f"unknown contact {contact_id}")
        existing = store.active_enrollment(contact_id, playbook) or store.latest_enrollment(contact_id, playbook)
        deal_id = deal_id or (existing.deal if existing is not None else None)
        deal = store.get_deal(deal_id) if deal_id else None
        if deal_id and deal is None:
            raise PreviewError(f"unknown deal {deal_id}")
        en = Enrollment(existing.id if existing is not None else 0, playbook, prog.hash or prog.name, contact_id,
                        deal_id, now, vars=copy.deepcopy(existing.vars) if existing is not None else {})
        en.runs = dict(existing.runs) if existing is not None else {}
        ctx = engine.ctx(en, now)
        from fsl.engine.executor import propose

        seg = propose(step, en, ctx)
        taken = {p.ordinal for p in seg.actions if p.kind == "send"}
        messages = []
        for p in seg.actions:
            if p.kind != "send":
                continue
            rec = ActionRecord((en.id, step.name, en.runs.get(step.name, 0), p.ordinal), now, en.id, contact_id,
                               deal_id, playbook, step.name, "send", p.channel, p.template, p.offer, p.to, None,
                               None, p.data, p.line)
            messages.append(_render(rt, prog, rec, contact, deal, en.vars))
    not_taken = [{"channel": s.channel, "template": s.template, "line": s.line, "branch": where}
                 for s, where in _sends(step.body) if s.ordinal not in taken]
    return {"playbook": playbook, "step": step_name, "contact": contact_id, "deal": deal_id, "now": iso(now),
            "enrollment": existing.id if existing is not None else None,
            "branches": [reason for reason, _, _ in seg.notes], "messages": messages, "not_taken": not_taken}


def _render(rt: "Runtime", prog, rec: ActionRecord, contact, deal, vars: dict) -> dict[str, Any]:
    out: dict[str, Any] = {"channel": rec.channel, "template": rec.template, "line": rec.line,
                           "offer": jsonable(rec.offer), "to": None, "renderer": "template",
                           "subject": None, "body": None, "verdicts": [], "status": "ok"}
    if not rec.template:  # as fsl.delivery.render says of such a send
        return {**out, "status": "failed", "error": "the send names no template"}
    try:
        template = rt.templates.lookup(rec.template)
    except Exception as exc:  # noqa: BLE001 - shown, not raised: the other sends still preview
        return {**out, "status": "failed", "error": f"template {rec.template!r}: {exc}"}
    channel = rt.config.channels.get(rec.channel or "")
    guards = GuardSettings.for_message(template, contact=contact.fields,
                                       sender=channel.settings.sender if channel is not None else None,
                                       offer=rec.offer, offer_max=prog.plan.offer_max)
    try:
        unsubscribe = unsubscribe_url_for(rt.config, rec.channel, idempotency_key(rec))
        msg = render_action(rec, contact, deal, rt.templates, rt.config, vars, owner_of(rt, contact),
                            unsubscribe_url=unsubscribe)
    except NeedsModel as need:
        out["renderer"] = "llm"
        try:
            outcome = render_need(rt, rec, contact, need, guards)
        except RenderFailed as exc:
            return {**out, "status": "failed", "error": exc.reason}
        draft = outcome.draft
        return {**out, "to": _to(rt, rec, contact), "status": outcome.status,
                "subject": draft.subject if draft else None, "body": draft.body if draft else None,
                "verdicts": [v.to_dict() for v in outcome.verdicts], "reasons": list(outcome.reasons),
                "attempts": len(outcome.attempts), "cached": outcome.cached}
    except RenderFailed as exc:
        return {**out, "status": "failed", "error": exc.reason}
    # our own unsubscribe link is no link of the template's for the guards to judge
    body = msg.text.replace(unsubscribe, "") if unsubscribe else msg.text
    verdicts = [v.to_dict() for v in check(SimpleNamespace(subject=msg.subject or "", body=body), guards)]
    status = "ok" if all(v["passed"] for v in verdicts) else "guards_failed"
    return {**out, "to": msg.to, "subject": msg.subject, "body": msg.text, "verdicts": verdicts, "status": status}


def _to(rt: "Runtime", rec: ActionRecord, contact) -> str | None:
    from fsl.delivery.render import compose_send

    try:
        return compose_send(rec, contact, rt.config, None, "").to
    except RenderFailed:
        return None
