"""enroll on, enroll when, reenroll."""
from ...syntax import nodes as n
from ..exprs import duration, lower, mentions
from .context import PassContext


def run(ctx: PassContext) -> None:
    pb, lets = ctx.playbook, ctx.lets
    ctx.out["enroll_on"] = [
        {"event": e.event, "for_each_stakeholder": e.for_each_stakeholder,
         "where": lower(e.where, lets) if e.where else None, "line": e.span.line}
        for e in pb.of(n.EnrollOn)
    ]
    w = pb.first(n.EnrollWhen)
    if w is not None:
        cond = lower(w.cond, lets)
        # a segment that reads a let reads whatever the let reads
        let_exprs = [lower(l.value, lets) for l in pb.of(n.Let)]
        uses_deal = mentions(cond, {"deal", "stakeholder"}) or (
            "let" in str(cond) and any(mentions(x, {"deal", "stakeholder"}) for x in let_exprs))
        ctx.out["enroll_when"] = {"cond": cond, "check_every": duration(w.check_every),
                                  "check_cron": w.check_cron, "uses_deal": uses_deal, "line": w.span.line}
    r = pb.first(n.Reenroll)
    ctx.out["reenroll_after"] = duration(r.after) if r else None
