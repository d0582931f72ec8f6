"""The ordered list of check passes; each is a function `(ctx) -> None`.

Names first (what is defined twice), then what names mean (resolve, sends),
then types, setting values, playbook rules and the step graph.  Each pass
reports on its own and reads only the AST and the project, so the order only
decides which problems are found first, never whether they are found.
"""
from __future__ import annotations

from collections.abc import Callable

from ..diagnostics import Diagnostic
from .context import CheckContext
from .flow import check_flow
from .lets import check_lets
from .names import check_names
from .nullable import check_nullable
from .recovered import drop_echoes
from .resolve import check_resolve
from .rules import check_rules
from .sends import check_sends
from .settings import check_settings
from .splits import check_splits
from .types import check_types

PASSES: list[Callable[[CheckContext], None]] = [
    check_names,     # E202 E203 E216
    check_splits,    # E306 E307 (v1.1 experiments)
    check_resolve,   # E201 E204 E207 E212
    check_lets,      # E302 and E101 for lets that use each other
    check_sends,     # E208 E209 E210 E211 E217 E218 (and E204 in task/notify texts)
    check_types,     # E205 E206
    check_nullable,  # W407
    check_settings,  # E213 E214 E215 E305 (and E104 for window days)
    check_rules,     # E301 E303 E304 W404 W405 W406
    check_flow,      # E302 W401 W402 W403
]


def run_checks(ctx: CheckContext) -> list[Diagnostic]:
    for check in PASSES:
        check(ctx)
    ctx.diags[:] = drop_echoes(ctx.modules, ctx.diags)
    return ctx.diags
