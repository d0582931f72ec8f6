"""Plan expression trees back to FSL text, for graphs, journals and `explain`."""
from __future__ import annotations

from typing import Any

from .plan import DurationP, Expr

_PREC = {"or": 1, "and": 2, "not": 3, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4,
         "in": 4, "not in": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def _dur(amount: int, unit: str) -> str:
    word = unit.replace("_", " ")
    return f"{amount} {word[:-1] if amount == 1 else word}"


def text(e: Expr | None, parent: int = 0) -> str:
    if e is None:
        return "none"
    if "lit" in e:
        v = e["lit"]
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
        if v is None:
            return "none"
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    if "pct" in e:
        return f"{e['pct']:g}%"
    if "dur" in e:
        return _dur(*e["dur"])
    if "time" in e:
        return f"{e['time'] // 60:02d}:{e['time'] % 60:02d}"
    if "date" in e:
        return str(e["date"])
    if "path" in e:
        return ".".join(e["path"])
    if "let" in e:
        return str(e["let"])
    if "name" in e:
        return str(e["name"])
    if "call" in e:
        return f"{e['call']}({', '.join(text(a) for a in e['args'])})"
    if "list" in e:
        return "[" + ", ".join(text(a) for a in e["list"]) + "]"
    if "if" in e:
        cond, then, other = e["if"]
        out = f"{text(then, 1)} if {text(cond, 1)} else {text(other)}"
        return f"({out})" if parent > 0 else out
    op, args = e["op"], e["args"]
    prec = _PREC[op]
    if op == "not":
        out = f"not {text(args[0], prec)}"
    elif op == "neg":
        out = f"-{text(args[0], prec)}"
    else:
        out = f"{text(args[0], prec)} {op} {text(args[1], prec + 1)}"
    return f"({out})" if prec < parent else out


def duration_text(d: DurationP | dict[str, Any] | None) -> str:
    if d is None:
        return ""
    if isinstance(d, dict):
        return _dur(d["amount"], d["unit"])
    return _dur(d.amount, d.unit)
