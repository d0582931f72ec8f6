"""The ordered list of check passes; each is a function `(ctx) -> None`."""
from __future__ import annotations

from .context import CheckContext

PASSES: list = []


def run_checks(ctx: CheckContext) -> list:
    for check in PASSES:
        check(ctx)
    return ctx.diags
