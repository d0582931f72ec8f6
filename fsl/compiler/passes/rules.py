"""caps, stop and pause rules."""
from ...syntax import nodes as n
from ..exprs import duration, lower
from .context import PassContext


def run(ctx: PassContext) -> None:
    pb, lets = ctx.playbook, ctx.lets
    ctx.out["caps"] = [
        {"channel": c.channel, "limit": c.limit, "per": duration(c.per),
         "across_deal": c.across_deal, "calendar": c.calendar, "line": c.span.line}
        for c in pb.of(n.Cap)
    ]
    ctx.out["stop_on"] = [
        {"event": s.event, "across_deal": s.across_deal,
         "where": lower(s.where, lets) if s.where else None,
         "outcome": s.outcome or "stopped", "line": s.span.line}
        for s in pb.of(n.StopOn)
    ]
    ctx.out["stop_when"] = [
        {"cond": lower(s.cond, lets), "outcome": s.outcome or "stopped", "line": s.span.line}
        for s in pb.of(n.StopWhen)
    ]
    ctx.out["pause_on"] = [
        {"event": p.event, "where": lower(p.where, lets) if p.where else None,
         "for": duration(p.for_), "until": lower(p.until, lets) if p.until else None,
         "default": duration(p.default), "line": p.span.line}
        for p in pb.of(n.PauseOn)
    ]
