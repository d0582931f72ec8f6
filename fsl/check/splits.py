"""Experiments (v1.1, SIGNALS.md section 4): a split's percentages add up to
100% (E306); a split has at least two variants with distinct names, and a
playbook names each split once (E307).

E306 and "fewer than two variants" go to the `split` keyword; a name used
twice, to its second occurrence (LANGUAGE.md section 11).  `variant(SPLIT)`
naming no split is resolve.py's (it knows every name a call may use).
"""
from __future__ import annotations

from ..diagnostics import Diagnostic
from ..syntax import nodes as n
from .context import CheckContext
from .walk import head, splits

# Buckets are hundredths of a percent (10000 in all): the width of a variant.
BUCKETS = 10000


def check_splits(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        seen: dict[str, n.Split] = {}
        for split in splits(pb):
            first = seen.setdefault(split.name, split)
            if first is not split:
                ctx.report(Diagnostic.make(
                    "E307", f"split {split.name} is used twice in playbook {pb.name} (first at line {first.span.line})",
                    split.name_span, "give each split its own name: its name keys the stable assignment"))
            _split(ctx, split)


def _split(ctx: CheckContext, split: n.Split) -> None:
    keyword = head(split.span, len("split"))
    if len(split.variants) < 2:
        ctx.report(Diagnostic.make(
            "E307", f"split {split.name} has {len(split.variants)} variant; a split needs at least two",
            keyword, "add another `variant NAME PERCENT:` block, or drop the split and keep its actions"))
    names: dict[str, n.Variant] = {}
    for v in split.variants:
        first = names.setdefault(v.name, v)
        if first is not v:
            ctx.report(Diagnostic.make(
                "E307", f"variant {v.name} is used twice in split {split.name} (first at line {first.span.line})",
                v.name_span, "give each variant its own name"))
    widths = [round(v.percent * 100) for v in split.variants]
    uneven = [v for v, w in zip(split.variants, widths) if abs(v.percent * 100 - w) > 1e-6]
    total = sum(widths)
    if uneven:
        ctx.report(Diagnostic.make(
            "E306", f"variant {uneven[0].name} of split {split.name} is {uneven[0].percent}%: "
            "percentages are counted in hundredths of a percent", keyword,
            "round it to two decimals (12.5% or 33.33%)"))
    elif total != BUCKETS and len(split.variants) >= 2:
        written = " + ".join(f"{v.percent}%" for v in split.variants)
        ctx.report(Diagnostic.make(
            "E306", f"the percentages of split {split.name} add up to {total / 100:g}% ({written}), not 100%",
            keyword, _fix(split, total)))


def _fix(split: n.Split, total: int) -> str:
    last = split.variants[-1]
    rest = BUCKETS - (total - round(last.percent * 100))
    if 0 < rest <= BUCKETS:
        return f"make variant {last.name} {rest / 100:g}% so that they add up to 100%"
    return "make them add up to exactly 100%"
