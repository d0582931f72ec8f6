"""`let`s that use each other: no cycle (E302), and no deeper than the nesting limit.

The runtime computes a `let` when it is used, by computing the lets it names
(RUNTIME.md); a cycle would recurse until Python gives up, and a chain of
lets each at the parser's limit would nest far past it.  So a `let`'s depth
counts the lets it uses, and must stay within MAX_DEPTH (E101), and a cycle
is reported at the name that closes it.  E302 ("a loop with no positive
delay") is the code: LANGUAGE.md has none for lets, and a cyclic let is the
same mistake in an expression, a loop that never ends (DECISIONS.md).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..diagnostics import Diagnostic
from ..syntax import nodes as n
from ..syntax.depth import MAX_DEPTH
from .context import CheckContext
from .walk import ENGAGEMENT, EVENT_FUNCTIONS

_NESTING = (n.Binary, n.Unary, n.Conditional, n.Call, n.ListExpr)
# each let's name -> the names of lets its expression uses, with the depth they sit at
_Uses = dict[str, list[tuple[n.Name, int]]]


def check_lets(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        lets: dict[str, n.Let] = {}
        for let in pb.of(n.Let):
            lets.setdefault(let.name, let)
        uses = {name: [(ref, d) for ref, d in _names(let.value, 0) if ref.name in lets]
                for name, let in lets.items()}
        order, cyclic = _topological(uses)
        if cyclic:
            _report_cycle(ctx, lets, uses, cyclic)
        _check_depth(ctx, lets, uses, order)


def _names(expr: n.Expr, depth: int) -> Iterator[tuple[n.Name, int]]:
    """Bare names that refer to lets, with the depth they sit at (as the parser counts)."""
    if isinstance(expr, n.Name):
        yield expr, depth
        return
    if isinstance(expr, _NESTING):
        depth += 1
    parts: Sequence[n.Expr]
    if isinstance(expr, n.Call):
        args: Sequence[n.Expr] = expr.args
        if expr.func in ENGAGEMENT:  # a step name, not a let
            args = [a for a in args if not isinstance(a, n.Name)]
        elif expr.func in EVENT_FUNCTIONS and args and isinstance(args[0], n.Name):
            args = args[1:]  # an event name
        parts = args
    elif isinstance(expr, n.Unary):
        parts = (expr.operand,)
    elif isinstance(expr, n.Binary):
        parts = (expr.left, expr.right)
    elif isinstance(expr, n.Conditional):
        parts = (expr.then, expr.cond, expr.other)
    elif isinstance(expr, n.ListExpr):
        parts = expr.items
    else:
        return
    for part in parts:
        yield from _names(part, depth)


def _own_depth(expr: n.Expr, depth: int = 0) -> int:
    if isinstance(expr, _NESTING):
        depth += 1
    parts: Sequence[n.Expr] = ()
    if isinstance(expr, n.Call | n.ListExpr):
        parts = expr.args if isinstance(expr, n.Call) else expr.items
    elif isinstance(expr, n.Unary):
        parts = (expr.operand,)
    elif isinstance(expr, n.Binary):
        parts = (expr.left, expr.right)
    elif isinstance(expr, n.Conditional):
        parts = (expr.then, expr.cond, expr.other)
    return max([depth, *(_own_depth(p, depth) for p in parts)])


def _topological(uses: _Uses) -> tuple[list[str], set[str]]:
    """Lets in an order where each comes after those it uses; and the lets on or behind a cycle.

    Iterative (Kahn): a playbook may hold thousands of lets.
    """
    waiting = {name: len({ref.name for ref, _ in refs}) for name, refs in uses.items()}
    users: dict[str, list[str]] = {name: [] for name in uses}
    for name, refs in uses.items():
        for used in {ref.name for ref, _ in refs}:
            users[used].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        name = ready.pop()
        order.append(name)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    return order, set(uses) - set(order)


def _report_cycle(ctx: CheckContext, lets: dict[str, n.Let], uses: _Uses, cyclic: set[str]) -> None:
    """Report each cycle once, at the let of it that comes first in the file."""
    def position(name: str) -> tuple[int, int]:
        return lets[name].span.line, lets[name].span.column

    done: set[str] = set()
    for start in sorted(cyclic, key=position):
        path: list[str] = []
        name = start
        while name not in path and name not in done:  # follow uses until a let repeats
            path.append(name)
            name = next(ref.name for ref, _ in uses[name] if ref.name in cyclic)
        done.update(path)
        if name not in path:
            continue  # behind a cycle already reported
        loop = path[path.index(name):]
        at = loop.index(min(loop, key=position))
        ring = loop[at:] + loop[:at]
        ref = next(r for r, _ in uses[ring[0]] if r.name == (ring[1] if len(ring) > 1 else ring[0]))
        ctx.report(Diagnostic.make(
            "E302", f"let {ring[0]} is defined in terms of itself ({' -> '.join(ring + ring[:1])})", ref.span,
            "a `let` may use other lets, but not itself, even through others"))


def _check_depth(ctx: CheckContext, lets: dict[str, n.Let], uses: _Uses, order: list[str]) -> None:
    expanded: dict[str, int] = {}
    for name in order:  # the lets a let uses come first
        depth = _own_depth(lets[name].value)
        over = None
        for ref, at in uses[name]:
            if at + expanded[ref.name] > depth:
                depth = at + expanded[ref.name]
                if depth > MAX_DEPTH and expanded[ref.name] <= MAX_DEPTH and over is None:
                    over = ref
        expanded[name] = depth
        if over is not None:
            ctx.report(Diagnostic.make(
                "E101", f"nested too deeply: let {name} nests {depth} levels counting the lets it uses, "
                f"at most {MAX_DEPTH} are allowed", over.span,
                f"compute {over.name} with fewer levels, or use it less deeply"))
