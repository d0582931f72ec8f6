"""The source map: which file and line the playbook came from (every node keeps its `line`)."""
from .context import PassContext


def run(ctx: PassContext) -> None:
    span = ctx.playbook.span
    ctx.out["source"] = {"file": span.file, "line": span.line}
