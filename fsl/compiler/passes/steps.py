"""Steps and their actions, lowered to plan nodes."""
from __future__ import annotations

from ...syntax import nodes as n
from ..exprs import duration, literal_value, lower
from .context import PassContext


def run(ctx: PassContext) -> None:
    ctx.out["steps"] = [_step(s, ctx.lets) for s in ctx.playbook.steps]


def _step(s: n.Step, lets: frozenset[str]) -> dict[str, object]:
    timing: dict[str, object] = {"kind": "next"}
    t = s.timing
    if isinstance(t, n.After):
        timing = {"kind": "after", "after": duration(t.duration)}
    elif isinstance(t, n.AtDay):
        timing = {"kind": "at_day", "day": t.day, "minute": t.minute}
    elif isinstance(t, n.AtCron):
        timing = {"kind": "at_cron", "cron": t.expr}
    if s.every is not None:
        timing["every"] = duration(s.every.duration)
        timing["max"] = s.every.max
    return {"name": s.name, "timing": timing, "body": _body(s.body, lets),
            "sends": sorted(set(_channels(s.body))), "line": s.span.line}


def _channels(body: tuple[n.Action, ...]) -> list[str]:
    out: list[str] = []
    for a in body:
        if isinstance(a, n.Send):
            out.append(a.channel)
        elif isinstance(a, n.If):
            for b in a.branches:
                out.extend(_channels(b.body))
            out.extend(_channels(a.orelse or ()))
        elif isinstance(a, n.Match):
            for c in a.cases:
                out.extend(_channels(c.body))
            out.extend(_channels(a.orelse or ()))
        elif isinstance(a, n.Split):
            for v in a.variants:
                out.extend(_channels(v.body))
    return out


def _body(body: tuple[n.Action, ...], lets: frozenset[str]) -> list[dict[str, object]]:
    return [_action(a, lets) for a in body]


def _opt(e: n.Expr | None, lets: frozenset[str]) -> object:
    return lower(e, lets) if e is not None else None


def _action(a: n.Action, lets: frozenset[str]) -> dict[str, object]:
    line = a.span.line
    if isinstance(a, n.Send):
        return {"kind": "send", "channel": a.channel, "template": a.template, "to": _opt(a.to, lets),
                "with": {w.name: lower(w.value, lets) for w in a.with_args}, "line": line}
    if isinstance(a, n.Task):
        return {"kind": "task", "task": a.kind, "text": a.text, "to": _opt(a.to, lets),
                "due": duration(a.due), "line": line}
    if isinstance(a, n.Notify):
        return {"kind": "notify", "to": lower(a.to, lets), "text": a.text, "line": line}
    if isinstance(a, n.Offer):
        return {"kind": "offer", "percent": a.percent, "expires": duration(a.expires), "line": line}
    if isinstance(a, n.SetField):
        return {"kind": "set", "path": list(a.path.parts), "value": lower(a.value, lets), "line": line}
    if isinstance(a, n.Wait):
        return {"kind": "wait", "duration": duration(a.duration), "line": line}
    if isinstance(a, n.WaitFor):
        return {"kind": "wait_for", "duration": duration(a.duration), "event": a.event,
                "where": _opt(a.where, lets), "line": line}
    if isinstance(a, n.Goto):
        return {"kind": "goto", "step": a.step, "line": line}
    if isinstance(a, n.End):
        return {"kind": "end", "outcome": a.outcome or "completed", "line": line}
    if isinstance(a, n.If):
        return {"kind": "if", "line": line,
                "branches": [{"cond": lower(b.cond, lets), "body": _body(b.body, lets), "line": b.span.line}
                             for b in a.branches],
                "orelse": _body(a.orelse, lets) if a.orelse is not None else None}
    if isinstance(a, n.Match):
        return {"kind": "match", "line": line, "subject": lower(a.subject, lets),
                "cases": [{"values": [literal_value(v) for v in c.values], "body": _body(c.body, lets),
                           "line": c.span.line} for c in a.cases],
                "orelse": _body(a.orelse, lets) if a.orelse is not None else None}
    if isinstance(a, n.Split):
        return _split(a, lets)
    raise TypeError(f"not an action: {a!r}")  # pragma: no cover


# `pick winner by EVENT` without `within` / `confidence` (SIGNALS.md section 4)
DEFAULT_WITHIN = {"amount": 7, "unit": "days"}
DEFAULT_CONFIDENCE = 95


def _split(a: n.Split, lets: frozenset[str]) -> dict[str, object]:
    pick = None
    if a.pick is not None:
        pick = {"event": a.pick.event,
                "within": duration(a.pick.within) if a.pick.within is not None else DEFAULT_WITHIN,
                "confidence": a.pick.confidence if a.pick.confidence is not None else DEFAULT_CONFIDENCE}
    return {"kind": "split", "name": a.name, "line": a.span.line, "pick": pick,
            "variants": [{"name": v.name, "percent": v.percent, "body": _body(v.body, lets), "line": v.span.line}
                         for v in a.variants]}
