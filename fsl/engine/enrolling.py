"""Who gets enrolled, and when (RUNTIME.md section 2).

* `enroll on EVENT [for each stakeholder] [where ...]` acts when the event is
  ingested (ingest.py calls `enroll_on`).
* `enroll when EXPR` is looked at per candidate -- a contact, or a
  contact-deal link when EXPR reads `deal` or `stakeholder` -- on its
  schedule in the candidate's local time: `check cron`, `check every D`
  (from the clock's start), or every minute.  Every-minute checks of an
  expression that only data can change (no now(), days_since or windowed
  count) are made only when the candidate's data changes, which gives the
  same enrollments without waking up each minute.
* One running enrollment per contact and playbook; after one ends,
  `reenroll after D` admits another D later, `reenroll never` none.
"""
from __future__ import annotations

from datetime import datetime
from datetime import timedelta

from .errors import error_text
from .evaluate import add, truthy
from .host import EngineHost
from .model import Contact, Deal, Enrollment, Event
from .program import Program
from .suppression import describe
from .suppression import opted_out
from ..timecalc import ceil_minute, iso, next_cron
from .timing import MINUTE, due_time


# ------------------------------------------------------------------- enroll

def try_enroll(engine: EngineHost, prog: Program, contact: Contact, deal: Deal | None, at: datetime,
               reason: str, line: int) -> Enrollment | None:
    """Enroll unless the contact runs this playbook or may not re-enter yet."""
    store = engine.store
    if store.active_enrollment(contact.id, prog.name) is not None:
        return None
    opt_out = opted_out(engine, contact.id, at) if prog.sends else None
    if opt_out is not None:  # task-only playbooks still enroll them
        engine.note(at, "skipped", f"{prog.name}: {reason}, but the contact opted out ({describe(opt_out)}); "
                    "a playbook that sends messages never enrolls them again", contact=contact.id, line=line)
        return None
    eligible = _eligible_from(engine, prog, contact, deal, at)
    if eligible is None or eligible > at:  # never, or not yet: `reenroll after D` counts from the end
        engine.note(at, "skipped", f"{prog.name}: {reason}, but the contact may not re-enter "
                    + ("again (reenroll never)" if eligible is None else f"before {iso(eligible)}"),
                    contact=contact.id, line=line)
        return None
    en = Enrollment(store.new_enrollment_id(), prog.name, prog.hash or prog.name, contact.id,
                    deal.id if deal is not None else None, started_at=at, anchor=at)
    store.add_enrollment(en)
    engine.note(at, "enrolled", reason, en, line=line)
    if not prog.steps:
        engine.end(en, "completed", at, "the playbook has no steps")
        return en
    try:
        ctx = engine.ctx(en, at)
        if prog.holidays_expr is not None:  # (v1.1) say whose holidays apply, and why when the default does
            cal, why = prog.calendar(ctx)
            engine.note(at, "holidays", why or f"the holidays of {cal.code} ({prog.holidays_source})", en,
                        line=prog.holidays_line)
        en.due_at = due_time(prog.steps[0], en, at, ctx.zone, ctx.holidays)
    except Exception as exc:  # noqa: BLE001 - its data gives no due time: it fails alone, never sleeping forever
        engine.fail(en, at, exc)
        return en
    engine.schedule(en, en.due_at)
    return en


def _eligible_from(engine: EngineHost, prog: Program, contact: Contact, deal: Deal | None,
                   at: datetime) -> datetime | None:
    """The first instant >= at at which the contact may enter, or None for
    never (an enrollment runs, or ended under `reenroll never`)."""
    store = engine.store
    if store.active_enrollment(contact.id, prog.name) is not None:
        return None
    latest = store.latest_enrollment(contact.id, prog.name)
    if latest is None or latest.ended_at is None:
        return at
    if prog.reenroll_after is None:
        return None
    ctx = engine.candidate_ctx(prog, contact, deal, at)
    return max(at, ceil_minute(add(latest.ended_at, prog.reenroll_after, ctx.zone, ctx.holidays)))


def enroll_on(engine: EngineHost, e: Event) -> None:
    store = engine.store
    for prog in engine.ordered:
        for rule in prog.enroll_on.get(e.type, ()):
            reason = f"enroll on {e.type}"
            if rule.for_each_stakeholder:
                deal = store.get_deal(e.deal) if e.deal is not None else None
                if deal is None:
                    engine.note(e.at, "skipped", f"{prog.name}: enroll on {e.type} for each stakeholder, "
                                "but the event names no known deal", contact=e.contact,
                                playbook=prog.name, line=rule.line)
                    continue
                pairs: list[tuple[Contact | None, Deal | None]] = [
                    (store.get_contact(cid), deal) for cid in sorted(deal.stakeholders)]
                reason += f" for each stakeholder of {deal.id}"
            else:
                contact = store.get_contact(e.contact) if e.contact is not None else None
                if contact is None:
                    continue
                pairs = [(contact, _deal_of(engine, contact, e))]
            for contact, deal in pairs:
                if contact is None:
                    continue
                ctx = engine.candidate_ctx(prog, contact, deal, e.at, e)
                if rule.where is None or truthy(rule.where(ctx)):
                    try_enroll(engine, prog, contact, deal, e.at, reason, rule.line)


def _deal_of(engine: EngineHost, contact: Contact, e: Event) -> Deal | None:
    """The event's deal; without one, the contact's only deal if it has one."""
    store = engine.store
    if e.deal is not None:
        return store.get_deal(e.deal)
    deals = store.deals_of(contact.id)
    return store.get_deal(deals[0]) if len(deals) == 1 else None


# ------------------------------------------------------------ enroll when

def _scheduled(prog: Program) -> bool:
    ew = prog.enroll_when
    return ew is not None and (ew.check_cron is not None or ew.check_every is not None)


# The helpers below serve programs with an `enroll when` (their callers skip the
# others): the `is not None` tests only say so to the type checker.

def _candidates(engine: EngineHost, prog: Program, contact_id: str) -> list[tuple[str, str | None]]:
    ew = prog.enroll_when
    if ew is not None and ew.uses_deal:
        return [(contact_id, d) for d in engine.store.deals_of(contact_id)]
    return [(contact_id, None)]


def _key(prog: Program, contact_id: str, deal_id: str | None) -> tuple:
    return ("when", prog.name, contact_id, deal_id or "")


def _order(prog: Program, contact_id: str, deal_id: str | None) -> tuple:
    return (*prog.order, contact_id, deal_id or "")


def _set(engine: EngineHost, prog: Program, contact_id: str, deal_id: str | None, at: datetime | None) -> None:
    engine.store.set_check(_key(prog, contact_id, deal_id), at, _order(prog, contact_id, deal_id))


def start_checks(engine: EngineHost, at: datetime, programs: list[Program] | None = None,
                 contact_ids: list[str] | None = None) -> None:
    """The first check of every candidate of every `enroll when` (or of the
    programs and contacts given: a deploy schedules a new playbook's checks
    contact by contact, a batch per transaction)."""
    for prog in engine.ordered if programs is None else programs:
        if prog.enroll_when is None:
            continue
        for cid in engine.store.contact_ids() if contact_ids is None else contact_ids:
            for c, d in _candidates(engine, prog, cid):
                _first(engine, prog, c, d, at)


def schedule_candidate(engine: EngineHost, contact_id: str, deal_id: str | None, at: datetime) -> None:
    """A contact or deal link added while the clock runs."""
    for prog in engine.ordered:
        if prog.enroll_when is None or (deal_id is not None and not prog.enroll_when.uses_deal):
            continue
        pairs = [(contact_id, deal_id)] if deal_id is not None else _candidates(engine, prog, contact_id)
        for c, d in pairs:
            _first(engine, prog, c, d, at)


def _first(engine: EngineHost, prog: Program, contact_id: str, deal_id: str | None, at: datetime) -> None:
    ew = prog.enroll_when
    cron = ew.check_cron if ew is not None else None
    if cron:
        zone = _zone(engine, prog, contact_id, deal_id, at)
        if zone is None:
            return
        at = next_cron(cron, at - MINUTE, zone)  # a firing at the start itself counts
    _set(engine, prog, contact_id, deal_id, ceil_minute(at))


def _zone(engine: EngineHost, prog: Program, contact_id: str, deal_id: str | None, at: datetime):
    contact = engine.store.get_contact(contact_id)
    if contact is None:
        return None
    deal = engine.store.get_deal(deal_id) if deal_id else None
    return engine.candidate_ctx(prog, contact, deal, at).zone


def run_checks(engine: EngineHost, t: datetime) -> None:
    """Every check due at or before t, in the same-instant order."""
    store = engine.store
    while (got := store.pop_check(t)) is not None:
        _, (_, name, contact_id, deal_id) = got
        prog = engine.programs.get(name)
        contact = store.get_contact(contact_id)
        if prog is None or prog.enroll_when is None or contact is None:
            continue
        deal = store.get_deal(deal_id) if deal_id else None
        if deal_id and deal is None:
            continue
        try:
            nxt = _check(engine, prog, contact, deal, t)
        except Exception as exc:  # noqa: BLE001 - one candidate's data never stops the checks
            nxt = _check_failed(engine, prog, contact_id, t, exc)
        if nxt is not None:
            _set(engine, prog, contact_id, deal_id or None, nxt)


def _check_failed(engine: EngineHost, prog: Program, contact_id: str, t: datetime, exc: Exception) -> datetime | None:
    """A candidate whose `enroll when` raised: journaled; looked at again when
    its data changes, or (a segment time alone moves) a day later."""
    ew = prog.enroll_when
    if ew is None:
        return None
    again = None if not (ew.time_dependent or _scheduled(prog)) else t + timedelta(days=1)
    engine.warn(t, f"{prog.name}: enroll when of {contact_id} could not be evaluated ({error_text(exc)}); "
                   + ("looked at again when its data changes" if again is None else "looked at again in a day"),
                ew.line, contact_id)
    return again


def _check(engine: EngineHost, prog: Program, contact: Contact, deal: Deal | None, t: datetime) -> datetime | None:
    """Look at one candidate; return when to look next (None: on data change)."""
    ew = prog.enroll_when
    if ew is None:
        return None
    ctx = engine.candidate_ctx(prog, contact, deal, t)
    eligible = _eligible_from(engine, prog, contact, deal, t)
    if eligible == t and truthy(ew.cond(ctx)):
        try_enroll(engine, prog, contact, deal, t, f"enroll when (checked at {t:%H:%M} UTC)", ew.line)
    if ew.check_cron is not None:
        return next_cron(ew.check_cron, t, ctx.zone)
    if ew.check_every is not None:
        return ceil_minute(add(t, ew.check_every, ctx.zone, ctx.holidays))
    if not ew.time_dependent:
        return None  # data-driven: recheck() and after_end() bring it back
    eligible = _eligible_from(engine, prog, contact, deal, t + MINUTE)
    return eligible  # every minute while it may enter; after_end() restarts it


def recheck(engine: EngineHost, contact_id: str) -> None:
    """A contact's data changed: its every-minute checks look again (at this
    instant if the checks have not run yet, else at the next minute)."""
    if not engine.started or engine.now is None:
        return
    when = engine.now + MINUTE if engine.checks_done else engine.now
    for prog in engine.ordered:
        if prog.enroll_when is None or _scheduled(prog):
            continue
        for c, d in _candidates(engine, prog, contact_id):
            _set(engine, prog, c, d, when)


def after_end(engine: EngineHost, en: Enrollment) -> None:
    """An enrollment ended: every-minute checks resume when it may re-enter."""
    prog = engine.by_hash.get(en.plan_hash)
    ended = en.ended_at  # set by Engine.end before it calls this
    if prog is None or prog.enroll_when is None or _scheduled(prog) or prog.reenroll_after is None or ended is None:
        return
    contact = engine.store.get_contact(en.contact)
    if contact is None:
        return
    deal = engine.store.get_deal(en.deal) if en.deal else None
    ctx = engine.candidate_ctx(prog, contact, deal, ended)
    at = ceil_minute(add(ended, prog.reenroll_after, ctx.zone, ctx.holidays))
    for c, d in _candidates(engine, prog, en.contact):
        _set(engine, prog, c, d, at)
