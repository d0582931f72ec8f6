"""Print expressions and literals in their canonical text.

Why a module of its own: the printer, the verifier's error messages and the
tests all need one exact spelling of a value.  Parentheses are printed only
where the grammar (grammar/fsl.lark, LANGUAGE.md section 7) needs them to
rebuild the same tree, so `(a and b) or c` becomes `a and b or c` while
`a - (b - c)` and `not (a or b)` keep theirs.  Grouping parentheses leave no
node in the AST, so dropping the redundant ones never changes the meaning.
"""
from __future__ import annotations

from decimal import Decimal

from ..durations import Duration
from ..syntax import nodes as n

# Binding strength, loosest first (LANGUAGE.md section 7).
COND, OR, AND, NOT, CMP, SUM, TERM, UNARY, ATOM = range(1, 10)

_BINARY = {
    "or": OR, "and": AND,
    "==": CMP, "!=": CMP, "<": CMP, "<=": CMP, ">": CMP, ">=": CMP, "in": CMP, "not in": CMP,
    "+": SUM, "-": SUM, "*": TERM, "/": TERM,
}


def number(value: int | float) -> str:
    """`42`, `-1`, `3.5`: ints stay ints; floats in the shortest positional form.

    Python's repr may use an exponent (`1e-05`), which FSL cannot read, so the
    shortest round-tripping digits are laid out positionally instead.
    """
    if isinstance(value, bool):
        raise TypeError(f"not a number: {value!r}")
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    if "." not in text:
        text += ".0"  # keep it a float: 1.0 and 1 compile differently
    return text


def percent(value: int | float) -> str:
    return number(value) + "%"


def string(text: str) -> str:
    """Double-quoted, with the escapes the lexer reads back (LANGUAGE.md section 2)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def clock(minute: int) -> str:
    """A minute of the day as 24-hour HH:MM."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def duration(d: Duration) -> str:
    """The long form (`2 days`), whatever the source wrote (`2d`)."""
    return str(d)


def literal(lit: n.Literal) -> str:
    kind, value = lit.kind, lit.value
    if kind == "string":
        return string(value)  # type: ignore[arg-type]
    if kind == "number":
        return number(value)  # type: ignore[arg-type]
    if kind == "percent":
        return percent(value)  # type: ignore[arg-type]
    if kind == "duration":
        return duration(value)  # type: ignore[arg-type]
    if kind == "time":
        return clock(value)  # type: ignore[arg-type]
    if kind == "date":
        return str(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "none":
        return "none"
    raise ValueError(f"unknown literal kind {kind!r}")


def strength(e: n.Expr) -> int:
    if isinstance(e, n.Conditional):
        return COND
    if isinstance(e, n.Binary):
        return _BINARY[e.op]
    if isinstance(e, n.Unary):
        return NOT if e.op == "not" else UNARY
    if isinstance(e, n.Literal) and e.kind == "number" and e.value < 0:  # type: ignore[operator]
        return UNARY  # printed `-1`: a unary minus as far as the grammar goes
    return ATOM


def expr(e: n.Expr, at_least: int = COND) -> str:
    """The text of `e`, parenthesised when it binds looser than `at_least`."""
    text = _bare(e)
    return f"({text})" if strength(e) < at_least else text


def _bare(e: n.Expr) -> str:
    if isinstance(e, n.Literal):
        return literal(e)
    if isinstance(e, n.Path):
        return e.dotted
    if isinstance(e, n.Name):
        return e.name
    if isinstance(e, n.Call):
        return f"{e.func}({', '.join(expr(a) for a in e.args)})"
    if isinstance(e, n.ListExpr):
        return f"[{', '.join(expr(a) for a in e.items)}]"
    if isinstance(e, n.Unary):
        if e.op == "not":
            return f"not {expr(e.operand, NOT)}"
        return f"-{expr(e.operand, UNARY)}"
    if isinstance(e, n.Binary):
        level = _BINARY[e.op]
        # Left-associative operators take a looser left operand than right one;
        # comparisons do not chain, so both of their sides must be sums.
        left_min = SUM if level == CMP else level
        right_min = SUM if level == CMP else level + 1
        return f"{expr(e.left, left_min)} {e.op} {expr(e.right, right_min)}"
    if isinstance(e, n.Conditional):
        # grammar: or_expr "if" or_expr "else" expr
        return f"{expr(e.then, OR)} if {expr(e.cond, OR)} else {expr(e.other, COND)}"
    raise TypeError(f"not an expression: {e!r}")
