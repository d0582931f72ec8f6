"""description, owner, priority."""
from ...syntax import nodes as n
from .context import PassContext


def run(ctx: PassContext) -> None:
    pb = ctx.playbook
    ctx.out["playbook"] = pb.name
    d, o, p = pb.first(n.Description), pb.first(n.Owner), pb.first(n.Priority)
    ctx.out["description"] = d.text if d else None
    ctx.out["owner"] = o.text if o else None
    ctx.out["priority"] = p.value if p else 50
