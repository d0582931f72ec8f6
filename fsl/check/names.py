"""Names defined twice: steps (E202), playbooks (E203), settings and `let`s (E216).

The first definition wins; every later one is reported at its own name (or
keyword), so the message can point back at the first.
"""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..syntax import nodes as n
from .context import CheckContext
from .walk import first_line

# Settings that may appear once, and the keyword(s) that start them.  `enroll
# on`, `cap`, `stop`, `pause` and `let` may repeat (`let` names may not).
SINGLE = {
    n.Description: "description",
    n.Owner: "owner",
    n.Priority: "priority",
    n.EnrollWhen: "enroll when",
    n.Reenroll: "reenroll",
    n.Timezone: "timezone",
    n.Window: "window",
    n.SkipHolidays: "skip holidays",
    n.OfferMax: "offer max",
    n.BestTime: "send at best time",
}


def check_names(ctx: CheckContext) -> None:
    _playbooks(ctx)
    for _, pb in ctx.playbooks():
        _steps(ctx, pb)
        _settings(ctx, pb)
        _lets(ctx, pb)


def _playbooks(ctx: CheckContext) -> None:
    # All playbooks count, broken ones too: their name was read before the error.
    seen: dict[str, n.Playbook] = {}
    for module in ctx.modules:
        for pb in module.playbooks:
            if pb.name_span is None:
                continue
            first = seen.setdefault(pb.name, pb)
            if first is not pb:
                where = f"{first.span.file}:{first.span.line}"
                ctx.report(Diagnostic.make(
                    "E203", f"playbook {pb.name} is defined twice (first at {where})", pb.name_span,
                    "playbook names must be unique among the files checked together; rename one"))


def _steps(ctx: CheckContext, pb: n.Playbook) -> None:
    seen: dict[str, n.Step] = {}
    for step in pb.steps:
        first = seen.setdefault(step.name, step)
        if first is not step:
            ctx.report(Diagnostic.make(
                "E202", f"step {step.name} is defined twice in playbook {pb.name} (first at line {first.span.line})",
                step.name_span, "give each step its own name"))


def _settings(ctx: CheckContext, pb: n.Playbook) -> None:
    seen: dict[type, n.Item] = {}
    for item in pb.items:
        keyword = SINGLE.get(type(item))
        if keyword is None:
            continue
        first = seen.setdefault(type(item), item)
        if first is not item:
            ctx.report(Diagnostic.make(
                "E216", f"`{keyword}` is given twice in playbook {pb.name} (first at line {first.span.line})",
                first_line(item.span), f"keep one `{keyword}`" + _merge_hint(item)))


def _merge_hint(item: n.Item) -> str:
    if isinstance(item, n.Window):
        return "; one window may list several ranges: window mon-fri 09:00-17:00, sat 10:00-12:00"
    return ""


def _lets(ctx: CheckContext, pb: n.Playbook) -> None:
    seen: dict[str, n.Let] = {}
    for let in pb.of(n.Let):
        first = seen.setdefault(let.name, let)
        if first is not let:
            ctx.report(Diagnostic.make(
                "E216", f"let {let.name} is given twice in playbook {pb.name} (first at line {first.span.line})",
                let.name_span, "give each `let` its own name"))


# the parallel checker (parallel.py) runs this one pass across all chunks
report_duplicate_playbooks = _playbooks
