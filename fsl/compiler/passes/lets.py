"""let NAME = EXPR: kept by name, evaluated when used."""
from ...syntax import nodes as n
from ..exprs import lower
from .context import PassContext


def run(ctx: PassContext) -> None:
    ctx.out["lets"] = {l.name: lower(l.value, ctx.lets) for l in ctx.playbook.of(n.Let)}
