"""An event arrives (RUNTIME.md section 4).

Order of work for one event: data updates apply; the message an engagement
event names is resolved to the enrollment that sent it; the event is kept;
an opt-out or a hard bounce suppresses the contact or the address
(suppression.py); then `stop on` / `pause on` rules and pending `wait up to
... for`s act on the enrollments it concerns, and finally `enroll on` rules
enroll.

Which enrollments an event concerns: the one that sent the message it names;
when it names none (or the message is unknown), and for unsubscribes, bounces
and complaints whatever they name, every running enrollment of the contact;
an event about a deal alone, every running enrollment on that deal.  Events for unknown contacts or messages are kept and reported as
warnings, never dropped, never raised.
"""
from __future__ import annotations

from zoneinfo import ZoneInfo

from .besttime import human_engagement, local_hour
from .enrolling import enroll_on
from .evaluate import truthy
from .host import EngineHost
from .model import ENDED, PAUSED, Enrollment, Event
from .suppression import hard_bounce
from .suppression import opts_out
from .suppression import suppress_bounced_address
from .suppression import suppress_contact
from ..timecalc import ceil_minute
from .timing import iso, pause_end

UTC = ZoneInfo("UTC")


def apply_event(engine: EngineHost, e: Event) -> None:
    store = engine.store
    if e.type == "update":
        _update(engine, e)
        return
    if e.contact is not None and store.get_contact(e.contact) is None:
        engine.warn(e.at, f"event {e.type} for unknown contact {e.contact}: kept, nothing done", e.line)
        store.add_event(e)
        return
    if e.deal is not None and store.get_deal(e.deal) is None:
        engine.warn(e.at, f"event {e.type} names unknown deal {e.deal}", e.line, e.contact)
    if e.step is not None and e.contact is not None and e.enrollment is None:
        # (an event that already names its enrollment -- the outbox's own verdicts -- keeps it:
        # two playbooks may have a step of that name)
        rec = store.message(e.contact, e.step, e.at)
        if rec is None:
            engine.warn(e.at, f"event {e.type} of {e.contact} concerns a message never sent "
                              f"(step {e.step}): kept", e.line, e.contact)
        else:
            e.enrollment = rec.enrollment
    store.add_event(e)
    count_engagement(engine, e)
    engine.note(e.at, "event", f"event {e.type}" + (f" on step {e.step}" if e.step else ""),
                contact=e.contact, line=e.line or 0)
    if e.contact is not None:
        engine.touched(e.contact)
        if opts_out(e):  # before the playbooks' own rules: suppression wins, whatever they say
            suppress_contact(engine, e)
        elif hard_bounce(e):
            suppress_bounced_address(engine, e)
    for en in sorted(_concerned(engine, e), key=engine.order):
        if en.status != ENDED:
            try:
                _rules(engine, en, e)
            except Exception as exc:  # noqa: BLE001 - its rules cannot read this event: it fails alone
                engine.fail(en, e.at, exc)
    _across_deal(engine, e)
    if e.contact is not None:
        for en in sorted(store.contact_enrollments(e.contact), key=engine.order):
            if en.wait_event == e.type:
                _wait_over(engine, en, e)
    enroll_on(engine, e)


def count_engagement(engine: EngineHost, e: Event) -> None:
    """A human engagement counts in the maintained aggregate of `send at best
    time` (history too), at its local hour in the contact's zone: the zone of the
    first playbook (in priority order) that sends at best time, else of the
    first playbook, else UTC."""
    if e.contact is None or not human_engagement(e):
        return
    contact = engine.store.get_contact(e.contact)
    if contact is None:
        return
    progs = [p for p in engine.ordered if p.best_within is not None] or engine.ordered
    zone = progs[0].zone(engine.candidate_ctx(progs[0], contact, None, e.at, e)) if progs else UTC
    engine.store.add_engagement(contact.id, local_hour(e.at, zone))


# Facts about the contact's address, whichever message revealed them: they
# concern every running enrollment of the contact.
CONTACT_WIDE = frozenset({"unsubscribed", "bounced", "complained"})


def _concerned(engine: EngineHost, e: Event) -> list[Enrollment]:
    store = engine.store
    if e.enrollment is not None and e.type not in CONTACT_WIDE:
        en = store.get_enrollment(e.enrollment)
        return [en] if en is not None and en.status != ENDED else []
    if e.contact is not None:
        return store.contact_enrollments(e.contact)
    if e.deal is not None:
        deal = store.get_deal(e.deal)
        if deal is None:
            return []
        return [en for cid in deal.stakeholders for en in store.contact_enrollments(cid) if en.deal == e.deal]
    return []


def _rules(engine: EngineHost, en: Enrollment, e: Event) -> None:
    prog = engine.program(en)
    ctx = engine.ctx(en, e.at, e)
    for rule in prog.stop_on.get(e.type, ()):
        if rule.where is None or truthy(rule.where(ctx)):
            # (an `across deal` rule also ends the deal's other enrollments: _across_deal)
            engine.end(en, rule.outcome, e.at, f"stop on {e.type}", rule.line)
            engine.cancel_outbox(en, f"stop on {e.type}")
            return
    for rule in prog.pause_on.get(e.type, ()):
        if rule.where is None or truthy(rule.where(ctx)):
            until_value = rule.until(ctx) if rule.until is not None else None
            until = pause_end(e.at, rule.for_, until_value, rule.until is not None, rule.default,
                              ctx.zone, ctx.holidays)
            if until is None or until <= e.at:
                engine.note(e.at, "event", f"pause on {e.type}: no time to pause until", en, line=rule.line)
            else:
                engine.pause(en, until, e.at, f"pause on {e.type}", rule.line)
                engine.cancel_outbox(en, f"pause on {e.type}")
            return


def _across_deal(engine: EngineHost, e: Event) -> None:
    """`stop on EVENT across deal`: the event of any stakeholder of a deal --
    enrolled in the playbook or not, whichever message it answers -- ends
    the playbook's enrollments on that deal (the buying committee is one
    conversation)."""
    if e.contact is None and e.deal is None:
        return
    store = engine.store
    contact = store.get_contact(e.contact) if e.contact is not None else None
    deal_ids = [e.deal] if e.deal is not None else store.deals_of(e.contact) if e.contact is not None else []
    for prog in engine.ordered:
        rules = [r for r in prog.stop_on.get(e.type, ()) if r.across_deal]
        if not rules:
            continue
        for deal_id in deal_ids:
            running = sorted(store.deal_enrollments(deal_id, prog.name), key=engine.order)
            deal = store.get_deal(deal_id)
            if not running or deal is None:
                continue
            ctx = (engine.candidate_ctx(prog, contact, deal, e.at, e) if contact is not None
                   else engine.ctx(running[0], e.at, e))
            for rule in rules:
                if rule.where is None or truthy(rule.where(ctx)):
                    who = e.contact or "the deal"
                    for en in running:
                        engine.end(en, rule.outcome, e.at, f"stop on {e.type} across deal {deal_id} (from {who})",
                                   rule.line)
                        engine.cancel_outbox(en, f"stop on {e.type} across deal {deal_id}")
                    break


def _wait_over(engine: EngineHost, en: Enrollment, e: Event) -> None:
    """`wait up to D for EVENT [where ...]`: the contact's first such event
    after the wait began ends the wait (any message, any playbook)."""
    if en.wait_since is None or e.at < en.wait_since:
        return
    prog = engine.program(en)
    node = prog.steps[en.step].waits.get(en.wait_ordinal)
    if node is not None and node.where is not None and not truthy(node.where(engine.ctx(en, e.at, e))):
        return
    en.wait_event = None
    en.due_at = ceil_minute(e.at)
    engine.note(e.at, "resumed", f"{e.type} arrived: the wait is over", en, line=node.line if node else 0)
    if en.status != PAUSED:
        engine.schedule(en, en.due_at)


def _update(engine: EngineHost, e: Event) -> None:
    """`update`: change contact or deal data at the event's instant."""
    store = engine.store
    changes = e.fields.get("set") or {}
    if e.contact is not None:
        contact = store.get_contact(e.contact)
        if contact is None:
            engine.warn(e.at, f"update of unknown contact {e.contact}: kept, nothing done", e.line)
            store.add_event(e)
            return
        contact.fields.update(changes)
        contact.version += 1
        engine.note(e.at, "update", f"contact {e.contact}: {_show(changes)}", contact=e.contact, line=e.line or 0)
        engine.touched(e.contact)
    elif e.deal is not None:
        deal = store.get_deal(e.deal)
        if deal is None:
            engine.warn(e.at, f"update of unknown deal {e.deal}: kept, nothing done", e.line)
            store.add_event(e)
            return
        deal.fields.update(changes)
        engine.note(e.at, "update", f"deal {e.deal}: {_show(changes)}", line=e.line or 0)
        for cid in deal.stakeholders:
            engine.touched(cid)


def _show(changes: dict) -> str:
    return ", ".join(f"{k} = {iso(v) if hasattr(v, 'astimezone') else v!r}" for k, v in changes.items())
