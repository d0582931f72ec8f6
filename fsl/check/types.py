"""Types of expressions: mismatches (E205) and enum members (E206).

A small bottom-up inference over LANGUAGE.md section 7's types.  A type that
cannot be known (a `vars.*` value, a field when there is no project file, an
unknown name already reported by resolve.py) is `any` and never causes an
error, so each mistake is reported once, where it is made.  `none` compares
with anything through `==` and `!=` and propagates through arithmetic.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..config import FieldType
from ..diagnostics import Diagnostic, did_you_mean
from ..syntax import nodes as n
from .context import CheckContext
from .walk import ENGAGEMENT, ENTITIES, FUNCTIONS, Site, actions, show, sites, splits


@dataclass(frozen=True)
class T:
    kind: str  # string number bool date datetime duration time list none any
    members: tuple[str, ...] = ()  # an enum is a string restricted to these

    def __str__(self) -> str:
        if self.members:
            return "an enum (" + ", ".join(self.members) + ")"
        return {"any": "anything", "none": "none", "time": "a time of day", "bool": "a bool"}.get(
            self.kind, f"a {self.kind}")


ANY, NONE, BOOL, NUMBER, STRING = T("any"), T("none"), T("bool"), T("number"), T("string")
DATE, DATETIME, DURATION = T("date"), T("datetime"), T("duration")

# Kinds that compare with each other.
GROUP = {"date": "date", "datetime": "date"}
ORDERED = ("number", "string", "date", "datetime", "duration", "time")

LITERAL = {"string": STRING, "number": NUMBER, "percent": NUMBER, "duration": DURATION,
           "time": T("time"), "date": DATE, "bool": BOOL, "none": NONE}

# (operator, left kind, right kind) -> result kind.
ARITH = {
    **{(op, "number", "number"): "number" for op in "+-*/"},
    ("+", "string", "string"): "string",
    ("+", "datetime", "duration"): "datetime", ("+", "duration", "datetime"): "datetime",
    ("-", "datetime", "duration"): "datetime", ("-", "datetime", "datetime"): "duration",
    ("+", "date", "duration"): "date", ("+", "duration", "date"): "date",
    ("-", "date", "duration"): "date", ("-", "date", "date"): "duration",
    ("-", "datetime", "date"): "duration", ("-", "date", "datetime"): "duration",
    ("+", "duration", "duration"): "duration", ("-", "duration", "duration"): "duration",
    ("*", "duration", "number"): "duration", ("*", "number", "duration"): "duration",
    ("/", "duration", "number"): "duration", ("/", "duration", "duration"): "number",
}

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def of_field(ft: FieldType | None) -> T:
    if ft is None:
        return ANY
    if ft.kind == "enum":
        return T("string", ft.members)
    return T("number" if ft.kind == "integer" else ft.kind)


def compatible(a: T, b: T) -> bool:
    if "any" in (a.kind, b.kind) or "none" in (a.kind, b.kind):
        return True
    return GROUP.get(a.kind, a.kind) == GROUP.get(b.kind, b.kind)


def known(t: T) -> bool:
    return t.kind not in ("any", "none")


def check_types(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        checker = _Checker(ctx, pb)
        for site in sites(pb):
            checker.site(site)
        for step in pb.steps:
            for action in actions(step.body):
                checker.action(action)


class _Checker:
    def __init__(self, ctx: CheckContext, pb: n.Playbook) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.lets: dict[str, n.Let] = {}
        for let in pb.of(n.Let):
            self.lets.setdefault(let.name, let)
        self.let_types: dict[str, T] = {}
        self.busy: set[str] = set()
        self.quiet = 0  # > 0 while typing a `let` for its users: its own site reports
        # variant(SPLIT) is an enum of the split's variant names (v1.1): a typo is E206
        self.variants: dict[str, tuple[str, ...]] = {}
        for split in splits(pb):
            self.variants.setdefault(split.name, tuple(dict.fromkeys(v.name for v in split.variants)))

    def report(self, code: str, message: str, expr: n.Expr, help: str | None = None) -> None:
        if not self.quiet:
            self.ctx.report(Diagnostic.make(code, message, expr.span, help))

    # ------------------------------------------------------------ sites
    def site(self, site: Site) -> None:
        t = self.infer(site.expr, site)
        if site.where in ("timezone", "skip holidays", "send to", "task to", "notify") and known(t) \
                and t.kind != "string":
            what = {"timezone": "an IANA zone name", "skip holidays": "a country code"}.get(site.where, "a person")
            self.report("E205", f"`{site.where}` needs a string ({what}), but {show(site.expr)} is {t}", site.expr)
        elif site.where == "pause until" and known(t) and GROUP.get(t.kind) != "date":
            self.report("E205", f"`until` needs a date or datetime, but {show(site.expr)} is {t}", site.expr,
                        "for a fixed time write `pause on EVENT for DURATION`" if t.kind == "duration" else None)

    def action(self, action: n.Action) -> None:
        if isinstance(action, n.SetField):
            target = self.path(action.path, None)
            value = self.infer(action.value, None, quiet=True)
            self.expect(target, action.value, value, f"{action.path.dotted}")
        elif isinstance(action, n.Match):
            subject = self.infer(action.subject, None, quiet=True)
            for case in action.cases:
                for lit in case.values:
                    self.expect(subject, lit, LITERAL.get(lit.kind, ANY), show(action.subject))

    def expect(self, want: T, expr: n.Expr, got: T, owner: str) -> None:
        """`expr` (of type `got`) must fit `want`, the type of `owner` (a field, a match subject)."""
        if want.members and self.enum_members(want, expr, owner):
            return
        if not compatible(want, got):
            self.report("E205", f"{owner} is {want}, but {show(expr)} is {got}", expr, _hint(want, expr))

    def enum_members(self, want: T, expr: n.Expr, owner: str) -> bool:
        """E206 for each string literal of `expr` that is not a member; whether any was found."""
        found = False
        for lit in _literal_leaves(expr):
            if lit.kind == "string" and lit.value not in want.members:
                guess = did_you_mean(str(lit.value), want.members)
                members = ", ".join(want.members)
                help = f'did you mean "{guess}"? the members are {members}' if guess else f"the members are {members}"
                self.report("E206", f'"{lit.value}" is not a member of the enum {owner}', lit, help)
                found = True
        return found

    # -------------------------------------------------------- inference
    def infer(self, expr: n.Expr, site: Site | None, quiet: bool = False) -> T:
        if quiet:
            self.quiet += 1
        try:
            return self._infer(expr, site)
        finally:
            if quiet:
                self.quiet -= 1

    def _infer(self, expr: n.Expr, site: Site | None) -> T:
        if isinstance(expr, n.Literal):
            return LITERAL.get(expr.kind, ANY)
        if isinstance(expr, n.Path):
            return self.path(expr, site)
        if isinstance(expr, n.Name):
            return self.let_type(expr.name)
        if isinstance(expr, n.Call):
            return self.call(expr, site)
        if isinstance(expr, n.Unary):
            return self.unary(expr, site)
        if isinstance(expr, n.Binary):
            return self.binary(expr, site)
        if isinstance(expr, n.Conditional):
            self.infer(expr.cond, site)
            return _join([self.infer(expr.then, site), self.infer(expr.other, site)])
        if isinstance(expr, n.ListExpr):
            for item in expr.items:
                self.infer(item, site)
            return T("list")
        return ANY

    def path(self, path: n.Path, site: Site | None) -> T:
        root, parts = path.root, path.parts
        if root == "enrollment" and parts[1:] == ("started_at",):
            return DATETIME
        if self.config is None or len(parts) != 2:
            return ANY
        if root in ENTITIES:
            return of_field(self.config.schema_.field(root, parts[1]))
        if root == "event" and site is not None and site.event is not None:
            return of_field((self.config.event_fields(site.event) or {}).get(parts[1]))
        return ANY

    def let_type(self, name: str) -> T:
        let = self.lets.get(name)
        if let is None or name in self.busy:
            return ANY  # unknown (E204) or defined in terms of itself
        if name not in self.let_types:
            self.busy.add(name)
            self.let_types[name] = self.infer(let.value, None, quiet=True)
            self.busy.discard(name)
        return self.let_types[name]

    def unary(self, expr: n.Unary, site: Site | None) -> T:
        t = self.infer(expr.operand, site)
        if expr.op == "not":
            return BOOL
        if known(t) and t.kind != "number":
            self.report("E205", f"cannot negate {show(expr.operand)}: it is {t}, not a number", expr.operand)
            return ANY
        return t

    def binary(self, expr: n.Binary, site: Site | None) -> T:
        left, right = self.infer(expr.left, site), self.infer(expr.right, site)
        if expr.op in ("and", "or"):
            return BOOL
        if expr.op in ("in", "not in"):
            self.membership(expr, left, right)
            return BOOL
        if expr.op in COMPARISONS:
            self.compare(expr, left, right)
            return BOOL
        return self.arith(expr, left, right)

    # ------------------------------------------------------ comparisons
    def compare(self, expr: n.Binary, left: T, right: T) -> None:
        if NONE in (left, right):
            if expr.op not in ("==", "!="):
                culprit = expr.left if left == NONE else expr.right
                self.report("E205", f"`{expr.op}` with none is always false; none compares only with == and !=",
                            culprit)
            return
        for subject, t, other in ((expr.left, left, expr.right), (expr.right, right, expr.left)):
            if t.members and self.enum_members(t, other, show(subject)):
                return
        if not compatible(left, right):
            # Blame the literal when there is one (the usual mistake), else the right side.
            swap = isinstance(expr.left, n.Literal) and not isinstance(expr.right, n.Literal)
            (base, base_t), (culprit, culprit_t) = (
                ((expr.right, right), (expr.left, left)) if swap else ((expr.left, left), (expr.right, right)))
            self.report("E205", f"cannot compare {show(base)} ({base_t}) with {show(culprit)} ({culprit_t})",
                        culprit, _hint(base_t, culprit))
        elif expr.op not in ("==", "!=") and known(left) and left.kind not in ORDERED:
            self.report("E205", f"`{expr.op}` needs values that have an order, but {show(expr.left)} is {left}",
                        expr.left)

    def membership(self, expr: n.Binary, left: T, right: T) -> None:
        if isinstance(expr.right, n.ListExpr):
            for item in expr.right.items:
                if left.members and self.enum_members(left, item, show(expr.left)):
                    continue
                got = self.infer(item, None, quiet=True)
                if not compatible(left, got):
                    self.report("E205", f"{show(expr.left)} is {left}, but the list holds {show(item)} ({got})",
                                item, _hint(left, item))
            return
        if right.kind in ("any", "list") or (right.kind == "string" and left.kind in ("string", "any")):
            return
        self.report("E205", f"`{expr.op}` needs a list on its right, but {show(expr.right)} is {right}", expr.right)

    # -------------------------------------------------------- arithmetic
    def arith(self, expr: n.Binary, left: T, right: T) -> T:
        if "any" in (left.kind, right.kind):
            return ANY
        if NONE in (left, right):
            return NONE  # none propagates
        kind = ARITH.get((expr.op, left.kind, right.kind))
        if kind is not None:
            return T(kind)
        # Blame the left side when nothing can stand there, else the right side.
        lefts = {kind for (op, kind, _) in ARITH if op == expr.op}
        culprit = expr.left if left.kind not in lefts else expr.right
        help = "add a duration such as 3 days" if left.kind in ("date", "datetime") and right.kind == "number" else None
        self.report("E205", f"cannot apply `{expr.op}` to {show(expr.left)} ({left}) and {show(expr.right)} ({right})",
                    culprit, help)
        return ANY

    # ------------------------------------------------------------ calls
    def call(self, call: n.Call, site: Site | None) -> T:
        """The result type of a call, after checking the types of its arguments."""
        func, args = call.func, list(call.args)
        low, high = FUNCTIONS.get(func, (0, None))
        if func not in FUNCTIONS or len(args) < low or (high is not None and len(args) > high):
            for arg in args:  # E212 is reported; the arguments may still hold mistakes of their own
                if not isinstance(arg, n.Name):
                    self.infer(arg, site)
            return ANY
        if func in ENGAGEMENT:
            self.engagement_args(call)
            return BOOL
        if func in ("count", "last"):
            if args and not isinstance(args[0], n.Name):
                self.report("E205", f"{func}() takes an event name, such as {func}(login), not {show(args[0])}",
                            args[0])
            if func == "count" and len(args) > 1:
                self.arg(args[1], site, ("duration",), "count()'s period")
            return NUMBER if func == "count" else DATETIME
        types = {"days_since": (("date", "datetime"), NUMBER), "lower": (("string",), STRING),
                 "len": (("list", "string"), NUMBER)}
        if func in types:
            wanted, result = types[func]
            for arg in args:
                self.arg(arg, site, wanted, f"{func}()'s argument")
            return result
        if func == "now":
            return DATETIME
        if func == "variant":
            first = args[0]
            if not isinstance(first, n.Name):
                self.report("E205", f"variant() takes a split name, such as variant(subject_test), not {show(first)}",
                            first)
                return STRING
            return T("string", self.variants.get(first.name, ()))
        return _join([self.infer(a, site) for a in args])  # coalesce

    def arg(self, arg: n.Expr, site: Site | None, wanted: tuple[str, ...], what: str) -> None:
        t = self.infer(arg, site)
        if known(t) and t.kind not in wanted:
            self.report("E205", f"{what} must be {' or '.join(str(T(k)) for k in wanted)}, "
                        f"but {show(arg)} is {t}", arg)

    def engagement_args(self, call: n.Call) -> None:
        args = list(call.args)
        if args and isinstance(args[0], n.Name):
            args = args[1:]  # the step (resolve.py checks the name)
        link = args.pop() if call.func == "clicked" and args else None
        for arg in args:
            self.report("E205", f"{call.func}() takes a step name, such as {call.func}(checkin), not {show(arg)}", arg)
        if link is not None:
            t = self.infer(link, None)
            if known(t) and t.kind != "string":
                self.report("E205", f'the link of clicked() is a tag in quotes, such as "case_study", not {show(link)}',
                            link)


def _join(types: list[T]) -> T:
    """The type of a value that is one of `types` (branches of an `if`, coalesce)."""
    kinds = [t for t in types if t.kind != "none"]
    if not kinds:
        return NONE if types else ANY
    first = kinds[0]
    if all(t == first for t in kinds):
        return first
    if all(t.kind == first.kind for t in kinds):
        return T(first.kind)  # enums of different members: a plain string
    return ANY


def _literal_leaves(expr: n.Expr) -> Iterator[n.Literal]:
    """The literals `expr` can evaluate to directly (through `x if c else y`)."""
    if isinstance(expr, n.Literal):
        yield expr
    elif isinstance(expr, n.Conditional):
        yield from _literal_leaves(expr.then)
        yield from _literal_leaves(expr.other)


def _hint(want: T, expr: n.Expr) -> str | None:
    if not isinstance(expr, n.Literal):
        return None
    if expr.kind == "string" and want.kind == "number":
        try:
            float(str(expr.value))
            return f"write {expr.value} without quotes"
        except ValueError:
            return None
    if expr.kind == "duration" and want.kind in ("date", "datetime"):
        return f"compare with a point in time such as now() - {show(expr)}, or count days with days_since(...)"
    if expr.kind in ("number", "bool") and want.kind == "string":
        return f'write "{show(expr)}" in quotes'
    return None
