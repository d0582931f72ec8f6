"""Plan expressions -> Python closures (LANGUAGE.md section 7).

Each expression tree of a plan (see fsl/compiler/plan.py) is compiled once
into a closure `f(ctx) -> value`, so the engine never walks JSON while it
runs: the simulator needs tens of thousands of step executions per second.

Values at run time: str, int/float, bool, None, aware UTC `datetime`,
`date`, `Dur` (a duration), list.  Semantics:

* none propagates: arithmetic with none gives none; every comparison with
  none is false except `== none` / `!= none`; a none condition is false.
* `datetime ± duration`: days and weeks are calendar-local in the contact's
  zone, business days skip weekends (and the playbook's holidays).
  `datetime - datetime` is a duration (exact seconds).  Durations compare by
  their nominal length (a day is 24 hours, a business day too).
* A `date` meets a `datetime` as the start of that day in the contact's zone.
* Type errors the checker would have rejected give none (comparisons false)
  rather than raising: a running enrollment must never crash on data.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from ..durations import NOMINAL_SECONDS
from ..timecalc import add_duration, localize, to_local

UTC = timezone.utc
_UTC_ZONE = ZoneInfo("UTC")
Fn = Callable[["Ctx"], Any]

# Comparing durations needs a length for business days too: a nominal day.
_NOMINAL = {**NOMINAL_SECONDS, "business_days": 86400}


@dataclass(frozen=True, slots=True)
class Dur:
    """A duration value: an amount of one unit (kept, since days are calendar-local)."""

    amount: float
    unit: str

    @property
    def seconds(self) -> float:
        return self.amount * _NOMINAL[self.unit]

    def __lt__(self, other: "Dur") -> bool:
        return self.seconds < other.seconds

    def __le__(self, other: "Dur") -> bool:
        return self.seconds <= other.seconds

    def __gt__(self, other: "Dur") -> bool:
        return self.seconds > other.seconds

    def __ge__(self, other: "Dur") -> bool:
        return self.seconds >= other.seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dur) and self.seconds == other.seconds

    def __hash__(self) -> int:
        return hash(self.seconds)


class Ctx:
    """What an expression can see.  One is built per evaluation site (a step
    execution, an event rule, an enrollment check) and reused within it."""

    __slots__ = ("now", "contact", "deal", "stakeholder", "event", "enrollment", "zone", "env", "lets", "holidays")

    def __init__(self, now, contact, deal=None, stakeholder=None, event=None, enrollment=None,
                 zone=None, env=None, lets=None, holidays=None):
        self.now = now
        self.contact = contact  # model.Contact
        self.deal = deal  # model.Deal | None
        self.stakeholder = stakeholder  # dict | None
        self.event = event  # model.Event | None
        self.enrollment = enrollment  # model.Enrollment | None
        self.zone = zone if zone is not None else _UTC_ZONE
        self.env = env  # engine services: engaged(), count(), last()
        self.lets = lets or {}  # name -> compiled closure
        self.holidays = holidays  # the playbook's holiday calendar, for business days


def truthy(v: Any) -> bool:
    """A condition's value: none (and false, 0, "", []) counts as false."""
    return bool(v) if v is not None else False


# ---------------------------------------------------------------- compiling

def compile_expr(tree: Any) -> Fn:
    """The closure of one expression tree.  `None` (no expression) gives a
    closure returning None."""
    if tree is None:
        return _const(None)
    if not isinstance(tree, dict):  # a bare JSON value
        return _const(tree)
    if "lit" in tree:
        return _const(tree["lit"])
    if "pct" in tree:
        return _const(tree["pct"])
    if "dur" in tree:
        amount, unit = tree["dur"]
        return _const(Dur(amount, unit))
    if "time" in tree:
        return _const(tree["time"])
    if "date" in tree:
        return _const(date.fromisoformat(tree["date"]))
    if "name" in tree:
        return _const(tree["name"])
    if "list" in tree:
        items = [compile_expr(x) for x in tree["list"]]
        consts = _constants(tree["list"])
        if consts is not None:  # a fresh list each time, as below, without calling closures
            return lambda ctx: list(consts)
        return lambda ctx: [f(ctx) for f in items]
    if "path" in tree:
        return _path(tree["path"])
    if "let" in tree:
        name = tree["let"]
        return lambda ctx: ctx.lets[name](ctx) if name in ctx.lets else None
    if "if" in tree:
        c, a, b = (compile_expr(x) for x in tree["if"])
        return lambda ctx: a(ctx) if truthy(c(ctx)) else b(ctx)
    if "op" in tree:
        return _op(tree["op"], tree["args"])
    if "call" in tree:
        return _call(tree["call"], tree.get("args", []))
    raise ValueError(f"not an expression: {tree!r}")


def _const(v: Any) -> Fn:
    return lambda ctx: v


_IMMUTABLE = (str, int, float, bool, type(None))


def _constants(trees: list) -> tuple | None:
    """The values of a list of literal strings / numbers / booleans / none,
    or None when an item is anything else (computed, or a mutable value)."""
    out = []
    for x in trees:
        if isinstance(x, dict) and len(x) == 1 and ("lit" in x or "name" in x):
            v = x["lit"] if "lit" in x else x["name"]
        elif not isinstance(x, dict):
            v = x
        else:
            return None
        if type(v) not in _IMMUTABLE:
            return None
        out.append(v)
    return tuple(out)


# ------------------------------------------------------------------- paths

def _path(parts: list[str]) -> Fn:
    root, rest = parts[0], parts[1:]
    if not rest:
        return _const(None)
    name = rest[0]
    if root == "contact":
        getter: Fn = lambda ctx: ctx.contact.fields.get(name) if ctx.contact is not None else None
    elif root == "deal":
        getter = lambda ctx: ctx.deal.fields.get(name) if ctx.deal is not None else None
    elif root == "stakeholder":
        getter = lambda ctx: ctx.stakeholder.get(name) if ctx.stakeholder is not None else None
    elif root == "vars":
        getter = lambda ctx: ctx.enrollment.vars.get(name) if ctx.enrollment is not None else None
    elif root == "event":
        getter = _event_field(name)
    elif root == "enrollment":
        getter = _enrollment_field(name)
    else:
        return _const(None)
    if len(rest) == 1:
        return getter
    deeper = rest[1:]

    def dig(ctx):
        v = getter(ctx)
        for key in deeper:
            v = v.get(key) if isinstance(v, dict) else None
        return v

    return dig


def _event_field(name: str) -> Fn:
    builtin = {"type": "type", "at": "at", "step": "step", "contact": "contact", "deal": "deal"}

    def get(ctx):
        e = ctx.event
        if e is None:
            return None
        if name in e.fields:
            return e.fields[name]
        return getattr(e, builtin[name]) if name in builtin else None

    return get


def _enrollment_field(name: str) -> Fn:
    attr = {"started_at": "started_at", "id": "id", "playbook": "playbook", "step": "step"}.get(name)

    def get(ctx):
        en = ctx.enrollment
        return getattr(en, attr) if en is not None and attr else None

    return get


# --------------------------------------------------------------- operators

def _op(op: str, args: list) -> Fn:
    fs = [compile_expr(a) for a in args]
    if op == "and":
        a, b = fs
        return lambda ctx: truthy(a(ctx)) and truthy(b(ctx))
    if op == "or":
        a, b = fs
        return lambda ctx: truthy(a(ctx)) or truthy(b(ctx))
    if op == "not":
        (a,) = fs
        return lambda ctx: not truthy(a(ctx))
    if op == "neg":
        (a,) = fs
        return lambda ctx: _neg(a(ctx))
    a, b = fs
    if op in ("==", "!=") and (args[0] == _NONE or args[1] == _NONE):
        # `x == none` / `x != none` are presence tests: the one place none compares true
        other = b if args[0] == _NONE else a
        if op == "==":
            return lambda ctx: other(ctx) is None
        return lambda ctx: other(ctx) is not None
    if op in _COMPARE:
        cmp = _COMPARE[op]
        return lambda ctx: cmp(ctx, a(ctx), b(ctx))
    if op in _ARITH:
        fn = _ARITH[op]
        return lambda ctx: fn(ctx, a(ctx), b(ctx))
    raise ValueError(f"unknown operator {op!r}")


def _neg(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return -v
    if isinstance(v, Dur):
        return Dur(-v.amount, v.unit)
    return None


def _as_instant(ctx: Ctx, v):
    """Dates meet datetimes as the start of the day in the contact's zone."""
    if isinstance(v, datetime):
        return v if v.tzinfo is not None else v.replace(tzinfo=UTC)
    if isinstance(v, date):
        return localize(datetime.combine(v, time()), ctx.zone)
    return v


def _coerce(ctx: Ctx, a, b):
    if isinstance(a, date) and isinstance(b, date) and (type(a) is datetime) != (type(b) is datetime):
        return _as_instant(ctx, a), _as_instant(ctx, b)
    return a, b


_NONE = {"lit": None}


def _eq(ctx, a, b) -> bool:
    if a is None or b is None:  # a comparison with none is false (LANGUAGE.md 7)
        return False
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    a, b = _coerce(ctx, a, b)
    try:
        return a == b
    except Exception:  # noqa: BLE001 - values that cannot be compared are not equal (user data)
        return False


def _ordered(test: Callable[[Any, Any], bool]) -> Callable:
    def cmp(ctx, a, b) -> bool:
        if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
            return False
        a, b = _coerce(ctx, a, b)
        try:
            return test(a, b)
        except TypeError:
            return False

    return cmp


def _in(ctx, a, b) -> bool:
    if a is None or b is None:
        return False
    if isinstance(b, str):
        return isinstance(a, str) and a in b
    if type(a) is str and type(b) is list:
        # _eq of a str with any runtime value is plain ==, which never raises
        for x in b:
            if x is None or isinstance(x, bool):
                continue
            try:
                if a == x:
                    return True
            except Exception:  # noqa: BLE001 - a member that cannot be compared is not a match (user data)
                pass
        return False
    try:
        return any(_eq(ctx, a, x) for x in b)
    except TypeError:
        return False


def _not_in(ctx, a, b) -> bool:
    if a is None or b is None:
        return False
    return not _in(ctx, a, b)


_COMPARE = {
    "==": _eq,
    "!=": lambda ctx, a, b: a is not None and b is not None and not _eq(ctx, a, b),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
    "in": _in,
    "not in": _not_in,
}


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def add(t: datetime, d: Dur, zone: ZoneInfo, holidays=None, sign: int = 1) -> datetime:
    """`t ± d` with the runtime's duration rules: minutes and hours absolute,
    days and weeks calendar-local in `zone`, business days skipping weekends
    and `holidays`.  A fractional calendar amount (only from arithmetic on
    durations) falls back to its nominal length."""
    amount = d.amount * sign
    if amount != int(amount):
        return t + timedelta(seconds=d.seconds * sign)
    return add_duration(t, int(amount), d.unit, zone, holidays)


def shift(ctx: Ctx, t: datetime, d: Dur, sign: int = 1) -> datetime:
    """`t ± d` in the context's zone and holiday calendar."""
    return add(t, d, ctx.zone, ctx.holidays, sign)


def _add(ctx, a, b):
    if a is None or b is None:
        return None
    if _num(a) and _num(b):
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, Dur) and isinstance(b, Dur):
        return Dur(a.seconds + b.seconds, "seconds")
    if isinstance(a, Dur) and isinstance(b, date):
        a, b = b, a
    if isinstance(a, date) and isinstance(b, Dur):
        return shift(ctx, _as_instant(ctx, a), b)
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    return None


def _sub(ctx, a, b):
    if a is None or b is None:
        return None
    if _num(a) and _num(b):
        return a - b
    if isinstance(a, Dur) and isinstance(b, Dur):
        return Dur(a.seconds - b.seconds, "seconds")
    if isinstance(a, date) and isinstance(b, Dur):
        return shift(ctx, _as_instant(ctx, a), b, -1)
    if isinstance(a, date) and isinstance(b, date):
        return Dur((_as_instant(ctx, a) - _as_instant(ctx, b)).total_seconds(), "seconds")
    return None


def _mul(ctx, a, b):
    if a is None or b is None:
        return None
    if _num(a) and _num(b):
        return a * b
    if isinstance(a, Dur) and _num(b):
        return Dur(a.amount * b, a.unit)
    if _num(a) and isinstance(b, Dur):
        return Dur(b.amount * a, b.unit)
    return None


def _div(ctx, a, b):
    if a is None or b is None:
        return None
    if _num(a) and _num(b):
        return a / b if b != 0 else None
    if isinstance(a, Dur) and _num(b):
        return Dur(a.seconds / b, "seconds") if b != 0 else None
    if isinstance(a, Dur) and isinstance(b, Dur):
        return a.seconds / b.seconds if b.seconds else None
    return None


_ARITH = {"+": _add, "-": _sub, "*": _mul, "/": _div}


# --------------------------------------------------------------- functions

_ENGAGEMENT = ("opened", "clicked", "replied", "forwarded", "delivered")


def _call(name: str, args: list) -> Fn:
    if name in _ENGAGEMENT:
        return _engagement(name, args)
    if name == "count":
        return _count(args)
    if name == "last":
        ev = _event_name(args[0]) if args else None
        return lambda ctx: ctx.env.last(ctx, ev) if ctx.env is not None and ctx.contact is not None else None
    if name == "now":
        return lambda ctx: ctx.now
    if name == "variant":  # v1.1: the enrollment's variant of a split, none before the split ran
        split = _event_name(args[0]) if args else None
        return lambda ctx: ctx.enrollment.variants.get(split) if ctx.enrollment is not None else None
    fs = [compile_expr(a) for a in args]
    if name == "days_since":
        (a,) = fs
        return lambda ctx: days_since(ctx, a(ctx))
    if name == "lower":
        (a,) = fs
        return lambda ctx: (lambda v: v.lower() if isinstance(v, str) else None)(a(ctx))
    if name == "len":
        (a,) = fs
        return lambda ctx: (lambda v: len(v) if isinstance(v, (list, str, dict)) else None)(a(ctx))
    if name == "coalesce":
        def coalesce(ctx):
            for f in fs:
                v = f(ctx)
                if v is not None:
                    return v
            return None

        return coalesce
    raise ValueError(f"unknown function {name!r}")


def _event_name(tree) -> str | None:
    if isinstance(tree, dict):
        for key in ("name", "lit"):
            if key in tree:
                return tree[key]
        if "path" in tree:
            return ".".join(tree["path"])
    return None


def _engagement(kind: str, args: list) -> Fn:
    """`opened([STEP][, LINK])`: a step is a bare name, a link a string."""
    step = link = None
    for a in args:
        if isinstance(a, dict) and "name" in a:
            step = a["name"]
        elif isinstance(a, dict) and "lit" in a:
            link = a["lit"]
    return lambda ctx: (ctx.env.engaged(ctx, kind, step, link)
                        if ctx.env is not None and ctx.enrollment is not None else False)


def _count(args: list) -> Fn:
    ev = _event_name(args[0]) if args else None
    within = compile_expr(args[1]) if len(args) > 1 else None

    def count(ctx):
        if ctx.env is None or ctx.contact is None:
            return 0
        since = None
        if within is not None:
            d = within(ctx)
            if not isinstance(d, Dur):
                return None
            since = shift(ctx, ctx.now, d, -1)
        return ctx.env.count(ctx, ev, since)

    return count


def days_since(ctx: Ctx, v) -> int | None:
    """Whole days elapsed since `v`, counted on the contact's wall clock."""
    if v is None or not isinstance(v, date):
        return None
    then = to_local(_as_instant(ctx, v), ctx.zone)
    now = to_local(ctx.now, ctx.zone)
    return (now - then).days
