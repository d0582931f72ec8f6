"""Build the AST (nodes.py) from lark's parse, inline with the LALR parser.

The transformer also validates literals (E104): times, percentages, zero
durations, day numbers.  It records those problems instead of raising, so a
file with a bad literal still yields a full AST and the checker can go on.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from lark import Token, Tree
from lark.tree import Meta

from ..diagnostics import Diagnostic, Span
from ..durations import Duration, parse_duration
from . import nodes as n

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_ESCAPE_RE = re.compile(r"\\(.)")


def unescape(raw: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw[1:-1])


MAX_INT = 2**63 - 1  # what the store and the plan's JSON hold exactly
MAX_DURATION_SECONDS = 100 * 366 * 86400  # keeps every date the runtime computes inside year 1..9999


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


# A rule's children as the grammar lays them out: tokens, AST nodes, the carriers
# below, None for an absent optional part.  Which is where is known to the grammar,
# not to mypy, so the callbacks index them as Any and return precise types.
Children = list[Any]
_F = TypeVar("_F", bound=Callable[..., object])
_T = TypeVar("_T")


def with_meta(method: _F) -> _F:
    """Mark a callback that needs the rule's position (lark's `meta`)."""
    method.with_meta = True  # type: ignore[attr-defined]  # a function takes attributes; Callable does not say so
    return method


class AstBuilder:
    """Callbacks named like the grammar's rules; `file` is set before each parse.

    A small bottom-up walker of our own instead of lark's Transformer: it
    dispatches through a dict and skips lark's per-call wrappers, which made
    building the AST cost as much as parsing.
    """

    def __init__(self) -> None:
        self.file = "<input>"
        self.diags: list[Diagnostic] = []
        self._dispatch: dict[str, Callable[[Tree[Token], Children], Any]] = {}

    def transform(self, tree: Tree[Token]) -> list[n.Playbook]:
        # the root rule is `start`, whose callback returns the playbooks
        return cast("list[n.Playbook]", self._walk(tree))

    def _walk(self, tree: Tree[Token]) -> Any:  # whatever the rule's callback builds
        walk = self._walk
        children = [walk(c) if type(c) is Tree else c for c in tree.children]
        fn = self._dispatch.get(tree.data) or self._bind(tree.data)
        return fn(tree, children)

    def _bind(self, rule: str) -> Callable[[Tree[Token], Children], Any]:
        method = getattr(self, rule)
        fn: Callable[[Tree[Token], Children], Any]
        if getattr(method, "with_meta", False):
            def fn(tree: Tree[Token], children: Children) -> Any:
                return method(tree.meta, children)
        else:
            def fn(tree: Tree[Token], children: Children) -> Any:
                return method(children)
        self._dispatch[rule] = fn
        return fn

    # ----------------------------------------------------------- helpers
    def reset(self, file: str) -> None:
        self.file = file
        self.diags = []

    def tspan(self, tok: Token) -> Span:
        # lark types positions as optional; our scanner and the indenter always set them
        return Span(self.file, cast(int, tok.line), cast(int, tok.column),
                    cast(int, tok.end_line), cast(int, tok.end_column))

    def mspan(self, meta: Meta) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, 2)
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def bad(self, tok: Token, message: str, help: str | None = None) -> None:
        self.diags.append(Diagnostic.make("E104", message, self.tspan(tok), help))

    def duration(self, tok: Token, allow_zero: bool = False) -> Duration:
        text = " ".join(str(tok).split())
        digits = len(text) - len(text.lstrip("0123456789"))
        d = parse_duration(text) if digits <= 12 else None
        if d is None or (d.nominal_seconds() or d.amount * 86400) > MAX_DURATION_SECONDS:
            self.bad(tok, f"a duration longer than 100 years: {_short(str(tok))}", "the runtime's clock cannot reach that far")
            return Duration(1, "days")
        if d.amount == 0 and not allow_zero:
            self.bad(tok, f"a zero duration is allowed only after `after`: {tok}",
                     "use a positive duration such as 1 day")
        return d

    def time(self, tok: Token) -> int:
        text = str(tok)
        m = re.fullmatch(r"(\d\d):(\d\d)", text)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            self.bad(tok, f"invalid time of day {text}: use 24-hour HH:MM from 00:00 to 23:59",
                     "write 09:00 rather than 9:00; the end of the day is 23:59")
            return 0
        return int(m.group(1)) * 60 + int(m.group(2))

    def percent(self, tok: Token) -> float:
        value = float(str(tok)[:-1])
        if value > 100:
            self.bad(tok, f"a percentage cannot exceed 100%: {_short(str(tok))}")
            return 100
        return int(value) if value == int(value) else value

    def number(self, tok: Token) -> int | float | None:
        """The number's value, or None (reported, E104) when too large to store."""
        text = str(tok)
        whole = text.split(".")[0]
        if len(whole) > 19 or ("." not in text and not -MAX_INT - 1 <= int(text) <= MAX_INT):
            self.bad(tok, f"number too large: {_short(text)}",
                     f"numbers go up to {MAX_INT} (19 digits before the decimal point)")
            return None
        return float(text) if "." in text else int(text)

    @staticmethod
    def tokens(children: Children, type_: str) -> list[Token]:
        return [c for c in children if isinstance(c, Token) and c.type == type_]

    @staticmethod
    def nodes(children: Children, kind: type[_T]) -> list[_T]:
        return [c for c in children if isinstance(c, kind)]

    @staticmethod
    def first(children: Children, kind: type[_T]) -> _T | None:
        for c in children:
            if isinstance(c, kind):
                return c
        return None

    # ---------------------------------------------------------- top level
    def start(self, children: Children) -> list[n.Playbook]:
        return [c for c in children if isinstance(c, n.Playbook)]

    @with_meta
    def playbook(self, meta: Meta, children: Children) -> n.Playbook:
        name = children[0]
        return n.Playbook(str(name), tuple(children[1:]), self.mspan(meta), self.tspan(name))

    # ----------------------------------------------------------- settings
    @with_meta
    def description(self, meta: Meta, c: Children) -> n.Description:
        return n.Description(unescape(c[0]), self.mspan(meta))

    @with_meta
    def owner(self, meta: Meta, c: Children) -> n.Owner:
        return n.Owner(unescape(c[0]), self.mspan(meta))

    @with_meta
    def priority(self, meta: Meta, c: Children) -> n.Priority:
        value = self.number(c[0])
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 100):
            self.bad(c[0], f"a priority is a whole number from 0 to 100, not {c[0]}")
        return n.Priority(int(value or 0), self.mspan(meta), self.tspan(c[0]))

    def for_each(self, c: Children) -> _ForEach:
        return _ForEach()

    @with_meta
    def where(self, meta: Meta, c: Children) -> _Where:
        return _Where(self.e(c[0]))

    @with_meta
    def enroll_on(self, meta: Meta, c: Children) -> n.EnrollOn:
        where = self.first(c, _Where)
        return n.EnrollOn(str(c[0]), self.first(c, _ForEach) is not None,
                          where.expr if where else None, self.mspan(meta), self.tspan(c[0]))

    def check_every(self, c: Children) -> tuple[str, Duration, None]:
        return ("every", self.duration(c[0]), None)

    def check_cron(self, c: Children) -> tuple[str, str, Span]:
        return ("cron", unescape(c[0]), self.tspan(c[0]))

    @with_meta
    def enroll_when(self, meta: Meta, c: Children) -> n.EnrollWhen:
        check = c[1] if len(c) > 1 else None
        every = check[1] if check and check[0] == "every" else None
        cron = check[1] if check and check[0] == "cron" else None
        return n.EnrollWhen(self.e(c[0]), every, cron, self.mspan(meta),
                            check[2] if check and check[0] == "cron" else None)  # "" too

    @with_meta
    def reenroll_never(self, meta: Meta, c: Children) -> n.Reenroll:
        return n.Reenroll(None, self.mspan(meta))

    @with_meta
    def reenroll_after(self, meta: Meta, c: Children) -> n.Reenroll:
        return n.Reenroll(self.duration(c[0]), self.mspan(meta))

    def tz_default(self, c: Children) -> _Default[str]:
        return _Default(unescape(c[0]), self.tspan(c[0]))

    @with_meta
    def timezone(self, meta: Meta, c: Children) -> n.Timezone:
        d = self.first(c, _Default)
        return n.Timezone(self.e(c[0]), d.value if d else None, self.mspan(meta), d.span if d else None)

    def days_one(self, c: Children) -> tuple[str, Span]:
        return (str(c[0]), self.tspan(c[0]))

    def days_range(self, c: Children) -> tuple[str, Span]:
        a, b = self.tspan(c[0]), self.tspan(c[1])
        return (f"{c[0]}-{c[1]}", Span(a.file, a.line, a.column, b.end_line, b.end_column))

    @with_meta
    def window_range(self, meta: Meta, c: Children) -> n.WindowRange:
        (days, dspan), start, end = c[0], c[1], c[2]
        return n.WindowRange(days, self.time(start), self.time(end), self.mspan(meta), dspan)

    @with_meta
    def window(self, meta: Meta, c: Children) -> n.Window:
        return n.Window(tuple(c), self.mspan(meta))

    @with_meta
    def skip_holidays(self, meta: Meta, c: Children) -> n.SkipHolidays:
        value, d = self.e(c[0]), self.first(c, _Default)
        if isinstance(value, n.Literal) and value.kind == "string" and d is None:
            return n.SkipHolidays(str(value.value), self.mspan(meta), value.span)  # `skip holidays "US"`
        return n.SkipHolidays(d.value if d else "", self.mspan(meta), (d.span if d else None) or value.span, value)

    @with_meta
    def offer_max(self, meta: Meta, c: Children) -> n.OfferMax:
        return n.OfferMax(self.percent(c[0]), self.mspan(meta))

    @with_meta
    def best_time(self, meta: Meta, c: Children) -> n.BestTime:
        toks = self.tokens(c, "DURATION")
        if not toks:
            return n.BestTime(None, self.mspan(meta), None)
        return n.BestTime(self.duration(toks[0]), self.mspan(meta), self.tspan(toks[0]))

    def across(self, c: Children) -> _Across:
        return _Across()

    def _cap(self, meta: Meta, c: Children, per: Duration | None) -> n.Cap:
        names = self.tokens(c, "NAME")
        limit_tok = self.tokens(c, "NUMBER")[0]
        limit = self.number(limit_tok)
        if limit is None:
            limit = 1
        elif not isinstance(limit, int) or limit < 1:
            self.bad(limit_tok, f"a cap's limit is a whole number of at least 1, not {limit_tok}")
        return n.Cap(str(names[0]) if names else None, int(limit), per,
                     self.first(c, _Across) is not None, self.mspan(meta),
                     self.tspan(names[0]) if names else None)

    @with_meta
    def cap_per(self, meta: Meta, c: Children) -> n.Cap:
        return self._cap(meta, c, self.duration(self.tokens(c, "DURATION")[0]))

    @with_meta
    def cap_total(self, meta: Meta, c: Children) -> n.Cap:
        return self._cap(meta, c, None)

    def period_week(self, c: Children) -> _Period:
        return _Period("week")

    def period_month(self, c: Children) -> _Period:
        return _Period("month")

    @with_meta
    def cap_calendar(self, meta: Meta, c: Children) -> n.Cap:
        period = self.first(c, _Period)
        return dataclasses.replace(self._cap(meta, c, None), calendar=period.name if period else "week")

    def outcome(self, c: Children) -> _Outcome:
        return _Outcome(str(c[0]))

    @with_meta
    def stop_on(self, meta: Meta, c: Children) -> n.StopOn:
        where, out = self.first(c, _Where), self.first(c, _Outcome)
        return n.StopOn(str(c[0]), self.first(c, _Across) is not None,
                        where.expr if where else None, out.name if out else None,
                        self.mspan(meta), self.tspan(c[0]))

    @with_meta
    def stop_when(self, meta: Meta, c: Children) -> n.StopWhen:
        out = self.first(c, _Outcome)
        return n.StopWhen(self.e(c[0]), out.name if out else None, self.mspan(meta))

    def pause_for(self, c: Children) -> tuple[str, Duration, None]:
        return ("for", self.duration(c[0]), None)

    def pause_default(self, c: Children) -> _Default[Duration]:
        return _Default(self.duration(c[0]), None)

    def pause_until(self, c: Children) -> tuple[str, n.Expr, Duration | None]:
        d = self.first(c, _Default)
        return ("until", self.e(c[0]), d.value if d else None)

    @with_meta
    def pause_on(self, meta: Meta, c: Children) -> n.PauseOn:
        where = self.first(c, _Where)
        kind, a, b = c[-1]
        return n.PauseOn(str(c[0]), where.expr if where else None,
                         a if kind == "for" else None,
                         a if kind == "until" else None,
                         b, self.mspan(meta), self.tspan(c[0]))

    @with_meta
    def let(self, meta: Meta, c: Children) -> n.Let:
        return n.Let(str(c[0]), self.e(c[1]), self.mspan(meta), self.tspan(c[0]))

    # -------------------------------------------------------------- steps
    @with_meta
    def after(self, meta: Meta, c: Children) -> n.After:
        return n.After(self.duration(c[0], allow_zero=True), self.mspan(meta))

    @with_meta
    def at_day(self, meta: Meta, c: Children) -> n.AtDay:
        day = self.number(c[0])
        if day is None:
            day = 1
        elif not isinstance(day, int) or day < 1:
            self.bad(c[0], f"day numbers start at 1 (the enrollment's date), not {c[0]}")
        elif day * 86400 > MAX_DURATION_SECONDS:
            self.bad(c[0], f"day {day} is more than 100 years after the enrollment")
            day = 1
        minute = self.time(c[1]) if len(c) > 1 else None
        return n.AtDay(int(day), minute, self.mspan(meta))

    @with_meta
    def at_cron(self, meta: Meta, c: Children) -> n.AtCron:
        return n.AtCron(unescape(c[0]), self.mspan(meta), self.tspan(c[0]))

    def every_max(self, c: Children) -> _Max:
        value = self.number(c[0])
        if value is None:
            value = 1
        elif not isinstance(value, int) or value < 1:
            self.bad(c[0], f"`max` is a whole number of at least 1, not {c[0]}")
        return _Max(int(value))

    @with_meta
    def every(self, meta: Meta, c: Children) -> n.Every:
        m = self.first(c, _Max)
        return n.Every(self.duration(c[0]), m.value if m else None, self.mspan(meta))

    def timing(self, c: Children) -> tuple[n.Timing | n.Every, ...]:
        return tuple(c)

    def block(self, c: Children) -> tuple[n.Action, ...]:
        return tuple(c)

    @with_meta
    def step(self, meta: Meta, c: Children) -> n.Step:
        name = c[0]
        timing: n.Timing | None = None
        every: n.Every | None = None
        body = c[-1]
        if len(c) == 3:
            for part in c[1]:
                if isinstance(part, n.Every):
                    every = part
                else:
                    timing = part
        return n.Step(str(name), timing, every, body, self.mspan(meta), self.tspan(name))

    # ------------------------------------------------------------ actions
    def send_to(self, c: Children) -> _To:
        return _To(self.e(c[0]))

    task_to = send_to

    def with_arg(self, c: Children) -> n.WithArg:
        return n.WithArg(str(c[0]), self.e(c[1]), self.tspan(c[0]))

    def send_with(self, c: Children) -> _With:
        return _With(tuple(c))

    @with_meta
    def send(self, meta: Meta, c: Children) -> n.Send:
        to, w = self.first(c, _To), self.first(c, _With)
        return n.Send(str(c[0]), unescape(c[1]), to.expr if to else None,
                      w.args if w else (), self.mspan(meta), self.tspan(c[0]), self.tspan(c[1]))

    def task_due(self, c: Children) -> _Default[Duration]:
        return _Default(self.duration(c[0], allow_zero=True), None)

    @with_meta
    def task(self, meta: Meta, c: Children) -> n.Task:
        to, due = self.first(c, _To), self.first(c, _Default)
        return n.Task(str(c[0]), unescape(c[1]), to.expr if to else None,
                      due.value if due else None, self.mspan(meta), self.tspan(c[1]))

    @with_meta
    def notify(self, meta: Meta, c: Children) -> n.Notify:
        return n.Notify(self.e(c[0]), unescape(c[1]), self.mspan(meta), self.tspan(c[1]))

    def offer_expires(self, c: Children) -> _Default[Duration]:
        return _Default(self.duration(c[0]), None)

    @with_meta
    def offer(self, meta: Meta, c: Children) -> n.Offer:
        exp = self.first(c, _Default)
        return n.Offer(self.percent(c[0]), exp.value if exp else None, self.mspan(meta))

    @with_meta
    def set(self, meta: Meta, c: Children) -> n.SetField:
        return n.SetField(n.Path(tuple(str(c[0]).split(".")), self.tspan(c[0])), self.e(c[1]), self.mspan(meta))

    @with_meta
    def wait(self, meta: Meta, c: Children) -> n.Wait:
        return n.Wait(self.duration(c[0]), self.mspan(meta))

    @with_meta
    def wait_for(self, meta: Meta, c: Children) -> n.WaitFor:
        where = self.first(c, _Where)
        return n.WaitFor(self.duration(c[0]), str(c[1]), where.expr if where else None,
                         self.mspan(meta), self.tspan(c[1]))

    @with_meta
    def goto(self, meta: Meta, c: Children) -> n.Goto:
        return n.Goto(str(c[0]), self.mspan(meta), self.tspan(c[0]))

    @with_meta
    def end(self, meta: Meta, c: Children) -> n.End:
        out = self.first(c, _Outcome)
        return n.End(out.name if out else None, self.mspan(meta))

    @with_meta
    def elif_clause(self, meta: Meta, c: Children) -> n.Branch:
        return n.Branch(self.e(c[0]), c[1], self.mspan(meta))

    @with_meta
    def else_clause(self, meta: Meta, c: Children) -> _Else:
        return _Else(c[0], self.mspan(meta))

    @with_meta
    def if_block(self, meta: Meta, c: Children) -> n.If:
        first = n.Branch(self.e(c[0]), c[1], self.mspan(meta))
        elifs = self.nodes(c[2:], n.Branch)
        orelse = self.first(c, _Else)
        return n.If((first, *elifs), orelse.body if orelse else None, self.mspan(meta),
                    orelse.span if orelse else None)

    @with_meta
    def case_clause(self, meta: Meta, c: Children) -> n.Case:
        # values are `true`/`false`/`none` nodes or the bare tokens of the inlined `literal`
        values = tuple(v if isinstance(v, n.Literal) else self.literal([v]) for v in c[:-1])
        return n.Case(values, c[-1], self.mspan(meta))

    @with_meta
    def match_block(self, meta: Meta, c: Children) -> n.Match:
        orelse = self.first(c, _Else)
        return n.Match(self.e(c[0]), tuple(self.nodes(c, n.Case)), orelse.body if orelse else None,
                       self.mspan(meta), orelse.span if orelse else None)

    # ------------------------------------------------------------ splits (v1.1)
    def pick_within(self, c: Children) -> _Within:
        return _Within(self.duration(c[0]))

    def pick_confidence(self, c: Children) -> _Confidence:
        return _Confidence(self.percent(c[0]))

    @with_meta
    def pick(self, meta: Meta, c: Children) -> n.Pick:
        within, conf = self.first(c, _Within), self.first(c, _Confidence)
        return n.Pick(str(c[0]), within.value if within else None, conf.value if conf else None,
                      self.mspan(meta), self.tspan(c[0]))

    @with_meta
    def variant_clause(self, meta: Meta, c: Children) -> n.Variant:
        return n.Variant(str(c[0]), self.percent(c[1]), c[2], self.mspan(meta), self.tspan(c[0]))

    @with_meta
    def split_block(self, meta: Meta, c: Children) -> n.Split:
        return n.Split(str(c[0]), tuple(self.nodes(c, n.Variant)), self.first(c, n.Pick),
                       self.mspan(meta), self.tspan(c[0]))

    # -------------------------------------------------------- expressions
    @with_meta
    def conditional(self, meta: Meta, c: Children) -> n.Conditional:
        return n.Conditional(self.e(c[0]), self.e(c[1]), self.e(c[2]), self.mspan(meta))

    @staticmethod
    def _bin(op: str) -> Callable[[AstBuilder, Meta, Children], n.Binary]:  # a factory of callbacks
        @with_meta
        def cb(self: AstBuilder, meta: Meta, c: Children) -> n.Binary:
            return n.Binary(op, self.e(c[0]), self.e(c[1]), self.mspan(meta))
        return cb

    or_ = _bin("or")
    and_ = _bin("and")
    eq = _bin("==")
    ne = _bin("!=")
    lt = _bin("<")
    le = _bin("<=")
    gt = _bin(">")
    ge = _bin(">=")
    in_ = _bin("in")
    not_in = _bin("not in")
    add = _bin("+")
    sub = _bin("-")
    mul = _bin("*")
    div = _bin("/")

    @with_meta
    def not_(self, meta: Meta, c: Children) -> n.Unary:
        return n.Unary("not", self.e(c[0]), self.mspan(meta))

    @with_meta
    def neg(self, meta: Meta, c: Children) -> n.Literal | n.Unary:
        operand = self.e(c[0])
        if isinstance(operand, n.Literal) and operand.kind == "number" \
                and isinstance(operand.value, (int, float)):
            return n.Literal("number", -operand.value, self.mspan(meta))
        return n.Unary("-", operand, self.mspan(meta))

    def path(self, c: Children) -> n.Path:
        return n.Path(tuple(str(c[0]).split(".")), self.tspan(c[0]))

    def name(self, c: Children) -> n.Name:
        return n.Name(str(c[0]), self.tspan(c[0]))

    @with_meta
    def call(self, meta: Meta, c: Children) -> n.Call:
        args = tuple(self.e(a) for a in c[1:] if a is not None)
        return n.Call(str(c[0]), args, self.tspan(c[0]))

    @with_meta
    def variant_call(self, meta: Meta, c: Children) -> n.Call:
        # `variant` is a keyword (v1.1), so its token is not among the children: the
        # call's span starts at the keyword, like any call's at its function name
        args = tuple(self.e(a) for a in c if a is not None)
        start = self.mspan(meta)
        return n.Call("variant", args, Span(start.file, start.line, start.column, start.line,
                                            start.column + len("variant")))

    @with_meta
    def list(self, meta: Meta, c: Children) -> n.ListExpr:
        return n.ListExpr(tuple(self.e(a) for a in c if a is not None), self.mspan(meta))

    def e(self, x: n.Expr | Token) -> n.Expr:
        """An expression: AST nodes pass; raw tokens (atoms the grammar inlines) become nodes.

        Atoms reach callbacks as bare tokens rather than one-child trees, which
        saves lark a tree and nine unit reductions' worth of position work per atom.
        """
        if type(x) is not Token:
            return cast(n.Expr, x)  # mypy narrows `type(x) is` only where it holds
        kind = x.type
        if kind == "DOTTED":
            return n.Path(tuple(str(x).split(".")), self.tspan(x))
        if kind == "NAME":
            return n.Name(str(x), self.tspan(x))
        return self.literal([x])

    def literal(self, c: Children) -> n.Literal:
        tok = c[0]
        span = self.tspan(tok)
        kind = tok.type
        if kind == "STRING":
            return n.Literal("string", unescape(tok), span)
        if kind == "NUMBER":
            value = self.number(tok)
            return n.Literal("number", 0 if value is None else value, span)
        if kind == "PERCENT":
            return n.Literal("percent", self.percent(tok), span)
        if kind == "DURATION":
            return n.Literal("duration", self.duration(tok, allow_zero=True), span)
        if kind == "TIME":
            return n.Literal("time", self.time(tok), span)
        return n.Literal("date", self.date(tok), span)

    def date(self, tok: Token) -> str:
        import datetime as dt

        try:
            dt.date.fromisoformat(str(tok))
        except ValueError:
            self.bad(tok, f"invalid date {tok}: use YYYY-MM-DD")
        return str(tok)

    @with_meta
    def true(self, meta: Meta, c: Children) -> n.Literal:
        return n.Literal("bool", True, self.mspan(meta))

    @with_meta
    def false(self, meta: Meta, c: Children) -> n.Literal:
        return n.Literal("bool", False, self.mspan(meta))

    @with_meta
    def none(self, meta: Meta, c: Children) -> n.Literal:
        return n.Literal("none", None, self.mspan(meta))


# Small carriers between callbacks; never part of the AST.
class _ForEach:
    pass


class _Across:
    pass


class _Where:
    def __init__(self, expr: n.Expr) -> None:
        self.expr = expr


class _Outcome:
    def __init__(self, name: str) -> None:
        self.name = name


class _Default(Generic[_T]):
    def __init__(self, value: _T, span: Span | None) -> None:
        self.value = value
        self.span = span


class _Period:
    def __init__(self, name: str) -> None:
        self.name = name


class _Max:
    def __init__(self, value: int) -> None:
        self.value = value


class _To:
    def __init__(self, expr: n.Expr) -> None:
        self.expr = expr


class _With:
    def __init__(self, args: tuple[n.WithArg, ...]) -> None:
        self.args = args


class _Within:
    def __init__(self, value: Duration) -> None:
        self.value = value


class _Confidence:
    def __init__(self, value: float) -> None:
        self.value = value


class _Else:
    def __init__(self, body: tuple[n.Action, ...], span: Span) -> None:
        self.body = body
        self.span = span
