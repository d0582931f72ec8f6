"""timezone, window, skip holidays, offer max, send at best time: when a playbook may act."""
from fsl.durations import Duration
from fsl.timecalc import parse_days
from ...syntax import nodes as n
from ..exprs import duration, lower
from .context import PassContext


def run(ctx: PassContext) -> None:
    pb = ctx.playbook
    tz = pb.first(n.Timezone)
    if tz is None:
        ctx.out["timezone"] = {"expr": None, "default": None}
    elif isinstance(tz.value, n.Literal) and tz.value.kind == "string" and tz.default is None:
        ctx.out["timezone"] = {"expr": None, "default": tz.value.value}  # `timezone "UTC"`
    else:
        ctx.out["timezone"] = {"expr": lower(tz.value, ctx.lets), "default": tz.default}
    w = pb.first(n.Window)
    ctx.out["window"] = None if w is None else [
        {"days": sorted(_days(r.days)), "start": r.start, "end": r.end} for r in w.ranges
    ]
    h = pb.first(n.SkipHolidays)
    if h is None or h.value is None:
        ctx.out["holidays"] = h.code if h else None
    else:
        ctx.out["holidays"] = {"expr": lower(h.value, ctx.lets), "default": h.code or None, "line": h.span.line}
    om = pb.first(n.OfferMax)
    ctx.out["offer_max"] = om.percent if om else None
    bt = pb.first(n.BestTime)
    if bt is not None:  # absent: no key at all, so v1 plans keep their hash
        within = bt.within or Duration(1, "days")
        ctx.out["best_time"] = {"within": duration(within)}


def _days(spec: str) -> frozenset[int]:
    try:
        return parse_days(spec)
    except ValueError:  # reported by the checker; compile what can be compiled
        return frozenset()
