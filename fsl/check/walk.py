"""Ways through the AST shared by the check passes.

The passes ask the same questions again and again: every action of a step
(nested ones too), every expression of a playbook together with what it may
refer to (`event.*` only under an event rule), every sub-expression.  Keeping
the answers here keeps each pass about its own rule.
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..diagnostics import Span
from ..syntax import nodes as n

if TYPE_CHECKING:
    from ..config import Config

# Roots a dotted path may start with (LANGUAGE.md section 7).
ENTITIES = ("contact", "deal", "stakeholder")
ROOTS = (*ENTITIES, "event", "vars", "enrollment")
ENROLLMENT_FIELDS = ("started_at",)

# Functions and how many arguments they take (min, max; None: no maximum).
ENGAGEMENT = ("opened", "clicked", "replied", "forwarded", "delivered")
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "opened": (0, 1),
    "clicked": (0, 2),
    "replied": (0, 1),
    "forwarded": (0, 1),
    "delivered": (0, 1),
    "count": (1, 2),
    "last": (1, 1),
    "days_since": (1, 1),
    "now": (0, 0),
    "lower": (1, 1),
    "len": (1, 1),
    "coalesce": (2, None),
    "variant": (1, 1),  # v1.1: variant(SPLIT)
}
EVENT_FUNCTIONS = ("count", "last")  # their first argument names an event


# ---------------------------------------------------------------- actions

def actions(body: tuple[n.Action, ...] | None) -> Iterator[n.Action]:
    """Every action of a block, nested ones included, in source order."""
    for action in body or ():
        yield action
        for block in blocks(action):
            yield from actions(block)


def blocks(action: n.Action) -> list[tuple[n.Action, ...]]:
    """The sub-blocks of an `if` or `match` (an absent `else` is an empty block)."""
    if isinstance(action, n.If):
        return [b.body for b in action.branches] + [action.orelse or ()]
    if isinstance(action, n.Match):
        return [c.body for c in action.cases] + [action.orelse or ()]
    if isinstance(action, n.Split):
        return [v.body for v in action.variants]
    return []


def splits(pb: n.Playbook) -> list[n.Split]:
    """Every `split` of the playbook, nested ones included, in source order."""
    return [a for step in pb.steps for a in actions(step.body) if isinstance(a, n.Split)]


def sends(step: n.Step) -> list[n.Send]:
    return [a for a in actions(step.body) if isinstance(a, n.Send)]


def has_wait(step: n.Step) -> bool:
    return any(isinstance(a, (n.Wait, n.WaitFor)) for a in actions(step.body))


# ------------------------------------------------------------ expressions

def sub_exprs(expr: n.Expr | None) -> Iterator[n.Expr]:
    """The expression and all its parts, outermost first."""
    if expr is None:
        return
    yield expr
    if isinstance(expr, n.Call):
        for a in expr.args:
            yield from sub_exprs(a)
    elif isinstance(expr, n.Unary):
        yield from sub_exprs(expr.operand)
    elif isinstance(expr, n.Binary):
        yield from sub_exprs(expr.left)
        yield from sub_exprs(expr.right)
    elif isinstance(expr, n.Conditional):
        yield from sub_exprs(expr.then)
        yield from sub_exprs(expr.cond)
        yield from sub_exprs(expr.other)
    elif isinstance(expr, n.ListExpr):
        for item in expr.items:
            yield from sub_exprs(item)


def calls(expr: n.Expr | None, names: Collection[str] | None = None) -> Iterator[n.Call]:
    for e in sub_exprs(expr):
        if isinstance(e, n.Call) and (names is None or e.func in names):
            yield e


@dataclass(frozen=True)
class Site:
    """One expression of a playbook and what it may refer to.

    event: the event whose fields `event.*` names here (None: `event` is not
    available).  step: the step it belongs to (None at playbook level).
    where: a word for messages (`stop when`, `if`, ...).
    """

    expr: n.Expr
    event: str | None
    step: n.Step | None
    where: str


def setting_sites(pb: n.Playbook) -> Iterator[Site]:
    for item in pb.items:
        if isinstance(item, n.EnrollOn) and item.where is not None:
            yield Site(item.where, item.event, None, "enroll on")
        elif isinstance(item, n.EnrollWhen):
            yield Site(item.cond, None, None, "enroll when")
        elif isinstance(item, n.Timezone):
            yield Site(item.value, None, None, "timezone")
        elif isinstance(item, n.SkipHolidays) and item.value is not None:
            yield Site(item.value, None, None, "skip holidays")
        elif isinstance(item, n.StopOn) and item.where is not None:
            yield Site(item.where, item.event, None, "stop on")
        elif isinstance(item, n.StopWhen):
            yield Site(item.cond, None, None, "stop when")
        elif isinstance(item, n.PauseOn):
            if item.where is not None:
                yield Site(item.where, item.event, None, "pause on")
            if item.until is not None:
                yield Site(item.until, item.event, None, "pause until")
        elif isinstance(item, n.Let):
            yield Site(item.value, None, None, "let")


def action_exprs(action: n.Action) -> Iterator[tuple[n.Expr, str | None, str]]:
    """(expression, event in scope, word) of one action, not of its sub-blocks."""
    if isinstance(action, n.Send):
        if action.to is not None:
            yield action.to, None, "send to"
        for w in action.with_args:
            yield w.value, None, "with"
    elif isinstance(action, n.Task) and action.to is not None:
        yield action.to, None, "task to"
    elif isinstance(action, n.Notify):
        yield action.to, None, "notify"
    elif isinstance(action, n.SetField):
        yield action.value, None, "set"
    elif isinstance(action, n.WaitFor) and action.where is not None:
        yield action.where, action.event, "wait for"
    elif isinstance(action, n.If):
        for b in action.branches:
            yield b.cond, None, "if"
    elif isinstance(action, n.Match):
        yield action.subject, None, "match"


def step_sites(step: n.Step) -> Iterator[Site]:
    for action in actions(step.body):
        for expr, event, where in action_exprs(action):
            yield Site(expr, event, step, where)


def sites(pb: n.Playbook) -> Iterator[Site]:
    """Every expression of the playbook (not `set` targets: those are paths to write)."""
    yield from setting_sites(pb)
    for step in pb.steps:
        yield from step_sites(step)


# ------------------------------------------------------------------ spans

def head(span: Span, length: int) -> Span:
    """A span of `length` characters from the start of `span` (one line)."""
    return Span(span.file, span.line, span.column, span.line, span.column + max(length, 1))


def playbook_span(pb: n.Playbook) -> Span:
    """The `playbook` keyword: where problems with the playbook as a whole go."""
    return head(pb.span, len("playbook"))


def first_line(span: Span) -> Span:
    """A multi-line span cut to its first line (the emitter underlines to its end)."""
    if span.end_line == span.line:
        return span
    return Span(span.file, span.line, span.column, span.line, 10**6)


# ----------------------------------------------------------------- words

def show(expr: n.Expr) -> str:
    """An expression as FSL text, for messages."""
    if isinstance(expr, n.Literal):
        return show_literal(expr)
    if isinstance(expr, n.Path):
        return expr.dotted
    if isinstance(expr, n.Name):
        return expr.name
    if isinstance(expr, n.Call):
        return f"{expr.func}({', '.join(show(a) for a in expr.args)})"
    if isinstance(expr, n.Unary):
        return f"not {show(expr.operand)}" if expr.op == "not" else f"-{show(expr.operand)}"
    if isinstance(expr, n.Binary):
        return f"{show(expr.left)} {expr.op} {show(expr.right)}"
    if isinstance(expr, n.Conditional):
        return f"{show(expr.then)} if {show(expr.cond)} else {show(expr.other)}"
    if isinstance(expr, n.ListExpr):
        return "[" + ", ".join(show(i) for i in expr.items) + "]"
    return "?"


def show_literal(lit: n.Literal) -> str:
    v = lit.value
    if lit.kind == "string":
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if lit.kind == "percent":
        return f"{v}%"
    if lit.kind == "time" and isinstance(v, int):  # minutes of the day
        return f"{v // 60:02d}:{v % 60:02d}"
    if lit.kind == "bool":
        return "true" if v else "false"
    if lit.kind == "none":
        return "none"
    return str(v)


def is_email(channel: str, config: Config | None) -> bool:
    """`email`, or any channel delivered by the smtp adapter."""
    if channel == "email":
        return True
    ch = config.channels.get(channel) if config is not None else None
    return ch is not None and ch.adapter == "smtp"


def reaches_inbox(channel: str, config: Config | None) -> bool:
    """Channels that need `stop on unsubscribed` (E301): email and sms."""
    return channel == "sms" or is_email(channel, config)
