"""The FSL abstract syntax tree: frozen dataclasses, every node with its span.

The parser (parser.py) builds these; every later stage (check, compile, fmt)
reads them and never mutates them.  Spans are excluded from equality so that
two parses of differently formatted but equivalent text compare equal.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, Union

from ..diagnostics import Span
from ..durations import Duration


def _span() -> Span:
    return field(compare=False, repr=False, default=None)  # type: ignore[return-value]


# --------------------------------------------------------------- expressions

@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value.  kind: string, number, percent, duration, time, date, bool, none."""

    kind: str
    value: object
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Path:
    """A dotted path such as contact.first_name, vars.angle or event.kind."""

    parts: tuple[str, ...]
    span: Span = _span()

    @property
    def root(self) -> str:
        return self.parts[0]

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Name:
    """A bare name: a `let` reference, or an event/step name given to a function."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple["Expr", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "not" or "-"
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # and or == != < <= > >= in "not in" + - * /
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Conditional:
    """`then if cond else other`."""

    then: "Expr"
    cond: "Expr"
    other: "Expr"
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple["Expr", ...]
    span: Span = _span()


Expr = Union[Literal, Path, Name, Call, Unary, Binary, Conditional, ListExpr]


# ------------------------------------------------------------------ actions

@dataclass(frozen=True, slots=True)
class WithArg:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Send:
    channel: str
    template: str
    to: Expr | None
    with_args: tuple[WithArg, ...]
    span: Span = _span()
    channel_span: Span = _span()
    template_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Task:
    kind: str
    text: str
    to: Expr | None
    due: Duration | None
    span: Span = _span()
    text_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Notify:
    to: Expr
    text: str
    span: Span = _span()
    text_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Offer:
    percent: float
    expires: Duration | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SetField:
    path: Path
    value: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Wait:
    duration: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class WaitFor:
    duration: Duration
    event: str
    where: Expr | None
    span: Span = _span()
    event_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Goto:
    step: str
    span: Span = _span()
    step_span: Span = _span()


@dataclass(frozen=True, slots=True)
class End:
    outcome: str | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Branch:
    cond: Expr
    body: tuple["Action", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[Branch, ...]  # the `if` and every `elif`
    orelse: tuple["Action", ...] | None
    span: Span = _span()
    else_span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Case:
    values: tuple[Literal, ...]
    body: tuple["Action", ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Match:
    subject: Expr
    cases: tuple[Case, ...]
    orelse: tuple["Action", ...] | None
    span: Span = _span()
    else_span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Pick:
    """`pick winner by EVENT [within DURATION] [confidence PERCENT]` (v1.1)."""

    event: str
    within: Duration | None  # None: the default, 7 days
    confidence: float | None  # None: the default, 95%
    span: Span = _span()
    event_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    percent: float
    body: tuple["Action", ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Split:
    """`split NAME [pick ...]:` with its variants in written order (v1.1)."""

    name: str
    variants: tuple[Variant, ...]
    pick: Pick | None
    span: Span = _span()
    name_span: Span = _span()


Action = Union[Send, Task, Notify, Offer, SetField, Wait, WaitFor, Goto, End, If, Match, Split]


# ------------------------------------------------------------------- steps

@dataclass(frozen=True, slots=True)
class After:
    duration: Duration
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AtDay:
    day: int
    minute: int | None  # minute of the day, or None for the enrollment's time of day
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AtCron:
    expr: str
    span: Span = _span()
    expr_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Every:
    duration: Duration
    max: int | None
    span: Span = _span()


Timing = Union[After, AtDay, AtCron]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    timing: Timing | None
    every: Every | None
    body: tuple[Action, ...]
    span: Span = _span()
    name_span: Span = _span()


# ----------------------------------------------------------------- settings

@dataclass(frozen=True, slots=True)
class Description:
    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Owner:
    text: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Priority:
    value: int
    span: Span = _span()
    value_span: Span = _span()


@dataclass(frozen=True, slots=True)
class EnrollOn:
    event: str
    for_each_stakeholder: bool
    where: Expr | None
    span: Span = _span()
    event_span: Span = _span()


@dataclass(frozen=True, slots=True)
class EnrollWhen:
    cond: Expr
    check_every: Duration | None
    check_cron: str | None
    span: Span = _span()
    cron_span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Reenroll:
    after: Duration | None  # None means never
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Timezone:
    value: Expr
    default: str | None
    span: Span = _span()
    default_span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class WindowRange:
    days: str  # as written: mon, mon-fri, daily, weekdays, weekends
    start: int  # minute of the day
    end: int
    span: Span = _span()
    days_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Window:
    ranges: tuple[WindowRange, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class SkipHolidays:
    """`skip holidays "US"`, or (v1.1) `skip holidays contact.country default "US"`.

    code: the fixed calendar, or the default of the expression form ("" when
    it has none); value: the expression (None for the fixed form).
    """

    code: str
    span: Span = _span()
    code_span: Span = _span()
    value: Expr | None = None


@dataclass(frozen=True, slots=True)
class OfferMax:
    percent: float
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BestTime:
    """(v1.1) `send at best time [within DURATION]`; `within` None: the default (1 day)."""

    within: Duration | None
    span: Span = _span()
    within_span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Cap:
    channel: str | None
    limit: int
    per: Duration | None  # None for a `total` cap
    across_deal: bool
    span: Span = _span()
    channel_span: Span | None = _span()
    calendar: str | None = None  # (v1.1) "week" or "month": a calendar period, `per` is None


@dataclass(frozen=True, slots=True)
class StopOn:
    event: str
    across_deal: bool
    where: Expr | None
    outcome: str | None
    span: Span = _span()
    event_span: Span = _span()


@dataclass(frozen=True, slots=True)
class StopWhen:
    cond: Expr
    outcome: str | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class PauseOn:
    event: str
    where: Expr | None
    for_: Duration | None
    until: Expr | None
    default: Duration | None
    span: Span = _span()
    event_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Let:
    name: str
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


Item = Union[
    Description, Owner, Priority, EnrollOn, EnrollWhen, Reenroll, Timezone, Window,
    SkipHolidays, OfferMax, Cap, StopOn, StopWhen, PauseOn, Let, Step,
    BestTime,
]


_I = TypeVar("_I")


@dataclass(frozen=True, slots=True)
class Playbook:
    name: str
    items: tuple[Item, ...]  # in source order
    span: Span = _span()
    name_span: Span = _span()

    def of(self, kind: type[_I]) -> list[_I]:
        return [i for i in self.items if isinstance(i, kind)]

    @property
    def steps(self) -> list[Step]:
        return self.of(Step)

    def first(self, kind: type[_I]) -> _I | None:
        for i in self.items:
            if isinstance(i, kind):
                return i
        return None


@dataclass(frozen=True, slots=True)
class Comment:
    line: int
    column: int
    text: str  # without the leading '#', stripped on the right
    own_line: bool  # a comment alone on its line (not after code)


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed .fsl file."""

    file: str
    playbooks: tuple[Playbook, ...]
    comments: tuple[Comment, ...] = field(compare=False, default=())
    # names of playbooks that had syntax errors (their AST may be missing or partial)
    broken: tuple[str, ...] = field(compare=False, default=())
    # broken playbooks whose AST was rebuilt with their bad lines blanked (recovery.py):
    # checked, so that one error never hides the rest, but never compiled or formatted
    recovered: tuple["Recovered", ...] = field(compare=False, default=())


@dataclass(frozen=True, slots=True)
class Recovered:
    """A broken playbook read again without its bad lines (syntax/recovery.py)."""

    name: str
    first_line: int
    last_line: int
    # the lines left out, and the step and `let` names they defined: a later
    # "unknown step b" about one of them would only repeat the syntax error
    blanked: tuple[int, ...]
    hidden_names: frozenset[str]
