"""Lower AST expressions to the plan's JSON trees (see plan.py)."""
from __future__ import annotations

from ..durations import Duration
from ..syntax import nodes as n


def duration(d: Duration | None) -> dict[str, object] | None:
    return None if d is None else {"amount": d.amount, "unit": d.unit}


def lower(e: n.Expr, lets: frozenset[str] = frozenset()) -> object:
    """The JSON tree of an expression; bare names are `let`s when one is declared."""
    if isinstance(e, n.Literal):
        return _literal(e)
    if isinstance(e, n.Path):
        return {"path": list(e.parts)}
    if isinstance(e, n.Name):
        return {"let": e.name} if e.name in lets else {"name": e.name}
    if isinstance(e, n.Call):
        if e.func == "variant" and e.args and isinstance(e.args[0], n.Name):
            # a split's name, even when a `let` has the same name
            return {"call": e.func, "args": [{"name": e.args[0].name}, *(lower(a, lets) for a in e.args[1:])]}
        return {"call": e.func, "args": [lower(a, lets) for a in e.args]}
    if isinstance(e, n.Unary):
        return {"op": "not" if e.op == "not" else "neg", "args": [lower(e.operand, lets)]}
    if isinstance(e, n.Binary):
        return {"op": e.op, "args": [lower(e.left, lets), lower(e.right, lets)]}
    if isinstance(e, n.Conditional):
        return {"if": [lower(e.cond, lets), lower(e.then, lets), lower(e.other, lets)]}
    if isinstance(e, n.ListExpr):
        return {"list": [lower(i, lets) for i in e.items]}
    raise TypeError(f"not an expression: {e!r}")  # pragma: no cover - the parser makes no others


def _literal(e: n.Literal) -> object:
    if e.kind == "percent":
        return {"pct": e.value}
    if e.kind == "duration" and isinstance(e.value, Duration):
        return {"dur": [e.value.amount, e.value.unit]}
    if e.kind == "time":
        return {"time": e.value}
    if e.kind == "date":
        return {"date": e.value}
    return {"lit": e.value}


def literal_value(e: n.Literal) -> object:
    """A `case` value as plain JSON."""
    if e.kind == "duration" and isinstance(e.value, Duration):
        return [e.value.amount, e.value.unit]
    return e.value


def mentions(e: object, roots: set[str]) -> bool:
    """Whether a lowered expression reads a path starting with one of `roots`."""
    if isinstance(e, dict):
        if "path" in e and e["path"][0] in roots:
            return True
        return any(mentions(v, roots) for v in e.values())
    if isinstance(e, list):
        return any(mentions(v, roots) for v in e)
    return False
