"""Rules of a well-behaved playbook (LANGUAGE.md sections 3-5):

E301  can send email/sms but no `stop on unsubscribed` (the law, in most places)
W404  sends email with no `window`            W405  ... with no `stop on bounced`
E303  an offer deeper than `offer max`, or an offer with no `offer max`
E304  `at day` steps whose days go backwards  W406  `every` without `max`
"""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..syntax import nodes as n
from .context import CheckContext
from .walk import actions, is_email, playbook_span, reaches_inbox, sends


def check_rules(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        _playbook_rules(ctx, pb)
        _offers(ctx, pb)
        _days(ctx, pb)
        _every(ctx, pb)


def _playbook_rules(ctx: CheckContext, pb: n.Playbook) -> None:
    channels = {s.channel for step in pb.steps for s in sends(step)}
    stops = {rule.event for rule in pb.of(n.StopOn)}
    inbox = sorted(c for c in channels if reaches_inbox(c, ctx.config))
    email = any(is_email(c, ctx.config) for c in channels)
    at = playbook_span(pb)
    if inbox and "unsubscribed" not in stops:
        ctx.report(Diagnostic.make(
            "E301", f"playbook {pb.name} can send {' and '.join(inbox)} but has no `stop on unsubscribed`", at,
            "add `stop on unsubscribed`, so a contact who unsubscribes hears nothing more"))
    if email and pb.first(n.Window) is None:
        ctx.report(Diagnostic.make(
            "W404", f"playbook {pb.name} sends email with no `window`: messages may go out at any hour", at,
            "add a window such as `window weekdays 09:00-17:00`"))
    if email and "bounced" not in stops:
        ctx.report(Diagnostic.make(
            "W405", f"playbook {pb.name} sends email with no `stop on bounced`", at,
            "add `stop on bounced`, so it stops writing to an address that does not exist"))


def _offers(ctx: CheckContext, pb: n.Playbook) -> None:
    cap = pb.first(n.OfferMax)
    for step in pb.steps:
        for offer in (a for a in actions(step.body) if isinstance(a, n.Offer)):
            pct = _percent(offer.percent)
            if cap is None:
                ctx.report(Diagnostic.make(
                    "E303", f"step {step.name} offers a {pct} discount, but playbook {pb.name} has no `offer max`",
                    offer.span, f"add `offer max {pct}` (or the deepest discount allowed) to the playbook"))
            elif offer.percent > cap.percent:
                ctx.report(Diagnostic.make(
                    "E303",
                    f"step {step.name} offers {pct}, deeper than the playbook's `offer max {_percent(cap.percent)}`",
                    offer.span, f"offer at most {_percent(cap.percent)}, or raise `offer max`"))


def _percent(value: float) -> str:
    return f"{value:g}%"


def _days(ctx: CheckContext, pb: n.Playbook) -> None:
    """`at day` steps, in the order written, must not go back in time.

    The day decides; on the same day, two given times of day must not go back either.
    """
    last: tuple[n.Step, n.AtDay] | None = None
    for step in pb.steps:
        timing = step.timing
        if not isinstance(timing, n.AtDay):
            continue
        if last is not None and _before(timing, last[1]):
            prev, at = last
            ctx.report(Diagnostic.make(
                "E304", f"step {step.name} is at day {_when(timing)}, before step {prev.name} at day {_when(at)}",
                timing.span, "steps run in the order written: order `at day` steps by day"))
        if last is None or not _before(timing, last[1]):
            last = (step, timing)


def _before(a: n.AtDay, b: n.AtDay) -> bool:
    if a.day != b.day:
        return a.day < b.day
    return a.minute is not None and b.minute is not None and a.minute < b.minute


def _when(at: n.AtDay) -> str:
    return str(at.day) if at.minute is None else f"{at.day} {at.minute // 60:02d}:{at.minute % 60:02d}"


def _every(ctx: CheckContext, pb: n.Playbook) -> None:
    for step in pb.steps:
        if step.every is not None and step.every.max is None:
            ctx.report(Diagnostic.make(
                "W406", f"step {step.name} repeats every {step.every.duration} with no `max`: "
                "it runs until the enrollment stops, and no later step ever runs",
                step.every.span, f"add a limit: every {step.every.duration} max N"))
