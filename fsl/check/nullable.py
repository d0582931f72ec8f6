"""W407 (LANGUAGE.md v1.1): an unguarded comparison with a value that can be none.

`none` makes every comparison false (except `== none` and `!= none`), so in
`enroll when days_since(contact.last_login_at) > 45` a contact who never
logged in is silently never enrolled, which is rarely what was meant.  The
conditions that choose contacts are looked at: `enroll when`, `stop when`
and every `where`.  A value can be none when it reads an optional contact,
deal or stakeholder field or `last(...)` (and so `days_since` of one, or
arithmetic with one); `event.` fields are the rule's own event's and are not
suspected.  A comparison is guarded when the same condition tests that value
against none (`x == none or ...`, `x != none and ...`), or when it is wrapped
in `coalesce(...)` with a value that is never none.
"""
from __future__ import annotations

from ..diagnostics import Diagnostic, Span
from ..syntax import nodes as n
from .context import CheckContext
from .walk import ENTITIES, actions, show, sub_exprs

COMPARE = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_PASS_THROUGH = ("days_since", "lower", "len")  # none in, none out


def check_nullable(ctx: CheckContext) -> None:
    if ctx.config is None:  # which fields are optional is not known
        return
    for _, pb in ctx.playbooks():
        lets = {let.name: let.value for let in reversed(pb.of(n.Let))}  # the first definition wins
        finder = _Finder(ctx, lets)
        for cond, where in _conditions(pb):
            finder.condition(cond, where)


def _conditions(pb: n.Playbook) -> list[tuple[n.Expr, str]]:
    out: list[tuple[n.Expr, str]] = []
    for item in pb.items:
        if isinstance(item, n.EnrollWhen):
            out.append((item.cond, "enroll when"))
        elif isinstance(item, n.StopWhen):
            out.append((item.cond, "stop when"))
        elif isinstance(item, (n.EnrollOn, n.StopOn, n.PauseOn)) and item.where is not None:
            out.append((item.where, "where"))
    for step in pb.steps:
        for action in actions(step.body):
            if isinstance(action, n.WaitFor) and action.where is not None:
                out.append((action.where, "where"))
    return out


class _Finder:
    def __init__(self, ctx: CheckContext, lets: dict[str, n.Expr]) -> None:
        self.ctx = ctx
        self.lets = lets
        self.busy: set[str] = set()

    def condition(self, cond: n.Expr, where: str) -> None:
        guarded: set[str] = set()
        for e in sub_exprs(cond):
            if isinstance(e, n.Binary) and e.op in ("==", "!=") and (_is_none(e.left) or _is_none(e.right)):
                guarded |= set(self.sources(e.right if _is_none(e.left) else e.left))
        for e in sub_exprs(cond):
            if not isinstance(e, n.Binary) or e.op not in COMPARE or _is_none(e.left) or _is_none(e.right):
                continue
            sources = {**self.sources(e.left), **self.sources(e.right)}
            open_ = [(text, src) for text, src in sources.items() if text not in guarded]
            if open_:
                self.report(e, open_[0][1], where)

    def report(self, cmp: n.Binary, source: n.Expr, where: str) -> None:
        it, text = show(source), show(cmp)
        whose = f"whose {it} is none (an optional field)" if isinstance(source, n.Path) \
            else f"without a value for {it} (none before the first such event)"
        self.ctx.report(Diagnostic.make(
            "W407", f"in `{where}`, `{text}` is false for every contact {whose}: they are silently left out",
            _start(cmp.left),
            f"to include them write `{it} == none or {text}`; to leave them out on purpose write "
            f"`{it} != none and {text}`; or give a value with coalesce({it}, ...)"))

    def sources(self, e: n.Expr) -> dict[str, n.Expr]:
        """The values that can make `e` none, by their text (empty: never none)."""
        if isinstance(e, n.Path):
            if e.root in ENTITIES and len(e.parts) == 2:
                ft = self.ctx.config.field_type(e.root, e.parts[1]) if self.ctx.config else None
                if ft is not None and ft.optional:
                    return {e.dotted: e}
            return {}
        if isinstance(e, n.Name):
            value = self.lets.get(e.name)
            if value is None or e.name in self.busy:
                return {}
            self.busy.add(e.name)
            try:
                return self.sources(value)
            finally:
                self.busy.discard(e.name)
        if isinstance(e, n.Call):
            if e.func == "last":
                return {show(e): e}
            if e.func in _PASS_THROUGH and e.args:
                return self.sources(e.args[0])
            if e.func == "coalesce":
                each = [self.sources(a) for a in e.args]
                return {} if any(not s for s in each) else {k: v for s in each for k, v in s.items()}
            return {}
        if isinstance(e, n.Unary):
            return self.sources(e.operand) if e.op == "-" else {}
        if isinstance(e, n.Binary):
            if e.op in ("+", "-", "*", "/"):
                return {**self.sources(e.left), **self.sources(e.right)}
            return {}  # comparisons and logic give a bool, never none
        if isinstance(e, n.Conditional):
            return {**self.sources(e.then), **self.sources(e.other)}
        return {}


def _is_none(e: n.Expr) -> bool:
    return isinstance(e, n.Literal) and e.kind == "none"


def _start(e: n.Expr) -> Span:
    """Where an operand starts: a binary's span may begin at its own left operand."""
    while isinstance(e, n.Binary):
        e = e.left
    return e.span
