"""The Jinja2 sandbox every template renders in, with a budget per message.

Jinja2's sandbox stops a template from reaching Python's internals, not from
running forever or filling the memory: `{% for %}` nested over `range(100000)`
loops for days, `{{ 9**(9**9) }}` computes a number of 350 million digits,
`"x" * 10**10` asks for ten gigabytes.  A message is rendered once per
contact inside a tick, so one such template would hold the tick, and every
other contact's message, for as long as it runs.  Here each message gets a
budget (`Budget`): loop iterations, wall-clock seconds and characters of
output.  Past it the render fails with `BudgetExceeded` (a sandbox
`SecurityError`, so it becomes that message's own render failure).

How each part is enforced:

* loops: every `{% for %}` iterates through the filter `__fsl_loop__`, written into the
  template's syntax tree when it is parsed, which counts iterations and looks
  at the clock;
* one operation that would build something huge in a single C call (`**`,
  `*`, `%`, `str.center`, `replace`, `join`, the filters that pad or
  repeat) is refused *before* it runs, from the size of its operands;
  concatenations (`~`, `+`) and every call's result are measured after;
* the rendered text is measured as it is produced.

Jinja2's compile-time optimizer would evaluate constant expressions such as
`{{ 9**(9**9) }}` while `fsl check` merely loads the template, outside any
budget: it is turned off (`optimized=False`), so nothing of a template runs
before it renders.
"""
from __future__ import annotations

import functools
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, cast

from jinja2 import nodes
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

MAX_ITERATIONS = 200_000  # loop iterations per message (a real template loops over tens of items)
MAX_SECONDS = 2.0  # wall clock per message; a real template renders in milliseconds
MAX_CHARS = 1_000_000  # characters of any one value or rendered part (a long email is 20,000)
MAX_POWER_BITS = 4096  # `a ** b` with a result larger than this many bits (about 1,200 digits)

_GROWING_FILTERS = ("center", "indent", "format", "replace", "join")
_LOOP = "__fsl_loop__"
_SIZED = "__fsl_sized__"
_WIDTH = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format string


class BudgetExceeded(SecurityError):
    """The message went past its budget; the message says which part and how to fix it."""


@dataclass
class Budget:
    iterations: int = MAX_ITERATIONS
    seconds: float = MAX_SECONDS
    chars: int = MAX_CHARS

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.seconds
        self.left = self.iterations

    def tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise BudgetExceeded(f"the template loops more than {self.iterations:,} times for one message")
        if self.left & 255 == 0:
            self.clock()

    def clock(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the template takes longer than {self.seconds:g} s to render one message")


_state = threading.local()


class budget:
    """`with budget():` renders inside one message's budget (nested uses share the outer one)."""

    def __init__(self, **limits: Any) -> None:
        self.limits = limits
        self.outer: Budget | None = None

    def __enter__(self) -> Budget:
        self.outer = getattr(_state, "budget", None)
        if self.outer is not None:
            return self.outer
        _state.budget = Budget(**self.limits)
        return _state.budget

    def __exit__(self, *exc: object) -> None:
        if self.outer is None:
            _state.budget = None


def _current() -> Budget:
    b = getattr(_state, "budget", None)
    return b if b is not None else Budget()  # outside `budget()`: each loop on its own budget


def _sized(value: Any) -> Any:
    """Refuse a value too large for a message (after an operation that can only double it)."""
    if isinstance(value, (str, list, tuple, dict, bytes)) and len(value) > _current().chars:
        raise BudgetExceeded(f"the template builds a value of {len(value):,} characters or items, "
                             f"more than {_current().chars:,}")
    return value


def _loop(iterable: Iterable) -> Iterable:
    """A `{% for %}`'s iterable, its iterations charged to the budget.

    A sized one (a list, a range, a string) is charged at once and iterated
    as it is, which costs nothing per item; anything else item by item."""
    b = _current()
    b.clock()
    try:
        n = len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return _counted(iterable, b)
    b.left -= n
    if b.left < 0:
        raise BudgetExceeded(f"the template loops more than {b.iterations:,} times for one message")
    return iterable


def _counted(iterable: Iterable, b: Budget) -> Iterator:
    for item in iterable:
        b.tick()
        yield item


def _check_size(size: int | float, what: str) -> None:
    limit = _current().chars
    if size > limit:
        raise BudgetExceeded(f"{what} would build {size:,.0f} characters or items, more than {limit:,}")


def _check_format(fmt: Any) -> None:
    if isinstance(fmt, str) and _WIDTH.search(fmt):
        raise BudgetExceeded("a format width of a million or more")


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0:
            if right * left.bit_length() > MAX_POWER_BITS:
                raise BudgetExceeded(f"{left} ** {right} is too large a number for a message")
    elif operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(n, int) and isinstance(seq, (str, list, tuple)):
                _check_size(len(seq) * n, "repeating a value")
    elif operator == "%" and isinstance(left, str):
        _check_format(left)


# str methods that can build a large string in one call, and how large
def _str_method_size(s: str, name: str, args: tuple, kwargs: dict) -> int | None:
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        return args[0]
    if name == "expandtabs":
        tab = args[0] if args and isinstance(args[0], int) else 8
        return len(s) + s.count("\t") * max(tab, 0)
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        old, new = args[0], args[1]
        count = len(s) + 1 if old == "" else s.count(old)
        if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
            count = min(count, args[2])
        return len(s) + count * max(0, len(new) - len(old))
    return None


class BudgetSandbox(SandboxedEnvironment):
    """Jinja2's sandbox, with the budget of this module (see the module docstring)."""

    intercepted_binops = frozenset({"**", "*", "%", "+"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("optimized", False)
        super().__init__(**options)
        self.filters[_LOOP] = _loop  # filters, not globals: a call would go through `call` below
        self.filters[_SIZED] = _sized
        for name in _GROWING_FILTERS:  # the others return at most a few times their input
            self.filters[name] = _guarded_filter(name, self.filters[name])

    def _parse(self, source, name, filename):
        return _Rewrite().visit(super()._parse(source, name, filename))

    def wrap_str_format(self, value: Any) -> Any:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(value.__self__)  # `"{:>999999999}".format(x)`: refused when looked up
        return wrapped

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return _sized(super().call_binop(context, operator, left, right))

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - jinja's signature
        _current().clock()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name == "join" and args:
                items = [str(x) for x in args[0]]
                _check_size(sum(map(len, items)) + len(owner) * len(items), "joining")
                args = (items, *args[1:])
            else:
                size = _str_method_size(owner, name, args, kwargs)
                if size is not None:
                    _check_size(size, f"str.{name}")
        return _sized(SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs))


def _guarded_filter(name: str, fn: Any) -> Any:
    """A filter whose arguments are checked before, and whose result is measured after."""

    @functools.wraps(fn)  # keeps jinja's pass_context / pass_eval_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        skip = 1 if args and _is_jinja_context(args[0]) else 0
        values = list(args[skip:])
        if name in ("center", "indent") and len(values) > 1 and isinstance(values[1], int):
            _check_size(values[1] * (1 + str(values[0]).count("\n")), f"the {name} filter")
        elif name == "format" and values:
            _check_format(values[0])
        elif name == "replace" and len(values) >= 3:
            _check_size(_str_method_size(str(values[0]), "replace", (str(values[1]), str(values[2])), {}) or 0,
                        "the replace filter")
        elif name == "join" and values:
            items = values[0] = [x for x in values[0]]
            sep = values[1] if len(values) > 1 and isinstance(values[1], str) else ""
            _check_size(sum(_length(x) for x in items if isinstance(x, str)) + len(sep) * len(items), "joining")
        return _sized(fn(*args[:skip], *values, **kwargs))

    return guarded


def _is_jinja_context(value: Any) -> bool:
    return isinstance(value, (Context, EvalContext))


class _Rewrite(NodeTransformer):
    """Loops go through `__fsl_loop__`; concatenations through `__fsl_sized__`."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _call(_LOOP, cast(nodes.Expr, node.iter))  # a loop's iterable is always an expression node
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        return _call(_SIZED, node)


def _call(name: str, arg: nodes.Expr) -> nodes.Filter:
    return nodes.Filter(arg, name, [], [], None, None, lineno=arg.lineno)


def render_parts(pieces: Iterable[str]) -> str:
    """Join a template's output as it is produced, within the message's budget.

    The clock is read every 64 pieces: what makes a piece slow (loops, calls)
    reads it on its own."""
    b = _current()
    limit = b.chars
    out: list[str] = []
    total = 0
    for piece in pieces:
        total += len(piece)
        if total > limit:
            raise BudgetExceeded(f"the template writes more than {limit:,} characters for one message")
        out.append(piece)
        if not len(out) & 63:
            b.clock()
    return "".join(out)
