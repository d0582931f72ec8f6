"""A due enrollment wakes up (RUNTIME.md section 3).

`wake(engine, en, t)` is called when the store says the enrollment is due at
t.  In order: a pause that is over resumes; a `wait up to ... for` whose time
ran out continues; then the step (or the rest of it after a wait) goes
through the window and holidays, the caps (total, then rolling, proposing
the step to know which sends it would make), the `stop when` rules, and is
executed.  Each decision is journaled with its reason and source line.
"""
from __future__ import annotations

from datetime import datetime

from .caps import rolling_ok_at, total_exceeded
from .evaluate import add, truthy
from .executor import Segment, apply_effects, propose
from .host import EngineHost
from .model import ACTIVE, PAUSED, WAITING, ActionRecord, Enrollment
from .program import Program, Step
from .suppression import blocked_sends
from .besttime import choose, describe
from ..durations import Duration
from ..timecalc import ceil_minute, is_holiday, next_allowed, to_local
from .timing import due_time, iso, repeat_time


def wake(engine: EngineHost, en: Enrollment, t: "datetime") -> None:
    if en.status == PAUSED:
        if not _resume(engine, en, t):
            return
    if en.wait_event is not None:
        if en.due_at is not None and t < en.due_at:  # woken early: sleep on
            engine.schedule(en, en.due_at)
            return
        engine.note(t, "resumed", f"no {en.wait_event} before the wait ran out", en)
        en.wait_event = None
    prog = engine.program(en)
    step = prog.steps[en.step]
    ctx = engine.ctx(en, t)
    if not _window_open(engine, en, prog, step, ctx, t):
        return
    seg = propose(step, en, ctx)
    if prog.best_within is not None and not _best_time(engine, en, prog, step, seg, ctx.zone, t):
        return
    cap = total_exceeded(prog.caps_total, seg, en, engine.store)
    if cap is not None:
        engine.end(en, "cap_reached", t, f"{cap.describe()} reached", cap.line, step.name)
        return
    rolling = prog.caps_rolling + engine.global_caps
    if rolling:
        ok_at, cap, never = rolling_ok_at(rolling, seg, en, t, engine.store, ctx.zone, ctx.holidays)
    else:
        ok_at, cap, never = t, None, False
    # rolling_ok_at names the cap whenever it says never or defers
    if never and cap is not None:
        engine.end(en, "cap_reached", t, f"step {step.name} sends more than {cap.describe()} allows",
                   cap.line, step.name)
        return
    if ok_at > t and cap is not None:
        _defer(engine, en, ok_at, f"cap: {cap.describe()}", cap.line, step.name, t)
        return
    for rule in prog.stop_when:
        if rule.where is not None and truthy(rule.where(ctx)):  # (a stop rule always has its condition)
            # line 0: a rule inherited from fsl.yaml's defaults (compiler/compile.py)
            which = f"stop when (line {rule.line})" if rule.line else "stop when (fsl.yaml defaults)"
            engine.end(en, rule.outcome, t, which, rule.line, step.name)
            engine.cancel_outbox(en, which)
            return
    _commit(engine, en, prog, step, seg, ctx, t)


def _resume(engine: EngineHost, en: Enrollment, t) -> bool:
    """End a pause that is over; False when the enrollment sleeps on."""
    if en.paused_until is not None and en.paused_until > t:
        engine.schedule(en, en.paused_until)
        return False
    en.status = WAITING if en.resume is not None or en.wait_event is not None else ACTIVE
    en.paused_until = None
    # the step that was next is due at the later of its due time and now
    if en.due_at is None or en.due_at < t:
        en.due_at = t
    engine.note(t, "resumed", f"pause over; next due {iso(en.due_at)}", en)
    if en.due_at > t:
        engine.schedule(en, en.due_at)
        return False
    return True


def _window_open(engine: EngineHost, en: Enrollment, prog: Program, step: Step, ctx, t) -> bool:
    """Step 2: move a due time outside the window or on a holiday."""
    zone, holidays = ctx.zone, ctx.holidays
    if prog.window is None and holidays is None:
        return True
    allowed = next_allowed(t, zone, prog.window, holidays)
    if allowed <= t:
        return True
    holiday = holidays is not None and is_holiday(holidays, to_local(t, zone).date())
    if holiday:
        reason = f"holiday: {holidays.get(to_local(t, zone).date())} ({holidays.code})"
        why = prog.calendar(ctx)[1] if prog.holidays_expr is not None else None
        if why is not None:
            reason += f"; {why}"
    else:
        reason = "outside the window"
    _defer(engine, en, ceil_minute(allowed), reason, step.line, step.name, t)
    return False


def _best_time(engine: EngineHost, en: Enrollment, prog: Program, step: Step, seg: Segment, zone, t) -> bool:
    """`send at best time` (SIGNALS.md 4): False when the send is held for a
    better hour.  The hour is chosen once, at the first wake after the step
    became due, from what the store holds then; the later wake executes."""
    if en.held_until is not None:
        if t < en.held_until:  # woken early (a resume, an event): sleep on
            engine.schedule(en, en.held_until)
            return False
        en.held_until = None
        return True
    if not any(p.kind == "send" for p in seg.actions):
        return True
    within = prog.best_within
    assert within is not None
    own, project = engine.store.engagement(en.contact)
    due = en.due_at if en.due_at is not None and en.due_at <= t else t
    ceiling = add(due, within, zone, prog.holidays)
    choice = choose(t, ceiling, zone, prog.window, prog.holidays, own, project)
    if choice is None or choice.at <= t:
        return True
    en.held_until = choice.at
    bt = prog.plan.best_time
    held = str(Duration(bt.within.amount, bt.within.unit)) if bt is not None else ""
    _defer(engine, en, choice.at, describe(choice, held), step.line, step.name, t)
    return False


def _defer(engine: EngineHost, en: Enrollment, until, reason: str, line: int, step: str, t) -> None:
    engine.schedule(en, until)
    engine.note(t, "deferred", f"deferred to {iso(until)}: {reason}", en, line=line, step=step)


def _commit(engine: EngineHost, en: Enrollment, prog: Program, step: Step, seg: Segment, ctx, t) -> None:
    """Step 5: record the segment's actions and effects, then move on."""
    fresh = en.resume is None
    iteration = en.runs.get(step.name, 0)
    en.held_until = None  # (a hold chosen under a plan since replaced must not outlive the step)
    apply_effects(seg, ctx, en, fresh)
    engine.note(t, "executed", f"step {step.name}" + ("" if fresh else " (resumed)")
                + f": {len(seg.actions)} action(s)", en, line=step.line, step=step.name)
    store = engine.store
    notes = iter(seg.notes)
    note = next(notes, None)
    touched_contact = False
    blocked = blocked_sends(engine, en, seg.actions)  # addresses that bounced hard
    for i, p in enumerate(seg.actions):
        while note is not None and note[2] <= i:
            engine.note(t, "branch", note[0], en, line=note[1], step=step.name)
            note = next(notes, None)
        if p.ordinal in blocked:
            engine.note(t, "skipped", blocked[p.ordinal], en, line=p.line, step=step.name)
            continue
        store.add_action(ActionRecord(
            (en.id, step.name, iteration, p.ordinal), t, en.id, en.contact, en.deal, en.playbook,
            step.name, p.kind, p.channel, p.template, p.offer, p.to, p.text, p.due, p.data, p.line))
        engine.note(t, "action", p.kind, en, line=p.line, step=step.name)
        if p.kind == "set" and p.data is not None and p.data["path"][0] == "contact":
            touched_contact = True
    while note is not None:
        engine.note(t, "branch", note[0], en, line=note[1], step=step.name)
        note = next(notes, None)
    for reason, line in seg.skipped:
        engine.warn(t, reason, line, en=en, step=step.name)
    if touched_contact:
        ctx.contact.version += 1
        engine.touched(en.contact)
    _next(engine, en, prog, step, seg, ctx.zone, ctx.holidays, t)


def _next(engine: EngineHost, en: Enrollment, prog: Program, step: Step, seg: Segment, zone, holidays,
          t) -> None:
    control, node = seg.control, seg.node
    if control == "wait" or control == "wait_for":
        en.resume = seg.resume
        en.status = WAITING
        en.due_at = ceil_minute(add(t, node.duration, zone, holidays))
        if control == "wait_for":
            en.wait_event, en.wait_ordinal, en.wait_since = node.event, node.ordinal, t
        engine.schedule(en, en.due_at)
        return
    en.runs[step.name] = en.runs.get(step.name, 0) + 1
    en.resume, en.status, en.anchor = None, ACTIVE, t
    if control == "end":
        engine.end(en, node.outcome, t, f"end as {node.outcome} in step {step.name}", node.line, step.name)
        return
    if control == "goto":
        if node.target < 0:
            engine.end(en, "failed", t, f"goto unknown step {node.step}", node.line, step.name)
            return
        en.step, en.repeat = node.target, 0
        target = prog.steps[node.target]
        en.due_at = due_time(target, en, t, zone, holidays)
        engine.schedule(en, en.due_at)
        return
    en.repeat += 1
    if step.every is not None and (step.max is None or en.repeat < step.max):
        en.due_at = repeat_time(step, t, zone, holidays)
        engine.schedule(en, en.due_at)
        return
    if step.index + 1 >= len(prog.steps):
        engine.end(en, "completed", t, "ran past its last step", step.line, step.name)
        return
    en.step, en.repeat = step.index + 1, 0
    en.due_at = due_time(prog.steps[en.step], en, t, zone, holidays)
    engine.schedule(en, en.due_at)
