"""Name resolution: steps (E201), fields and names (E204), events (E207), functions (E212).

Every name an expression or action uses must mean something: a step of the
playbook, a field of the project schema, an event that is built in or
declared, a `let`, a function of LANGUAGE.md section 7.  Without a project
file only the names the playbook itself defines (steps, lets, functions) can
be checked.
"""
from __future__ import annotations

from ..config import FieldType
from ..diagnostics import Diagnostic, Span, did_you_mean
from ..syntax import nodes as n
from .context import CheckContext
from .walk import (
    ENGAGEMENT, ENROLLMENT_FIELDS, ENTITIES, EVENT_FUNCTIONS, FUNCTIONS, ROOTS, Site, actions, sites, splits,
)

EVENT_PLACES = "the `where` of `enroll on`, `stop on`, `pause on` and `wait up to ... for`, and in `pause ... until`"


def check_resolve(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        _Resolver(ctx, pb).run()


class _Resolver:
    def __init__(self, ctx: CheckContext, pb: n.Playbook) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.pb = pb
        self.steps = [s.name for s in pb.steps]
        self.lets = [let.name for let in pb.of(n.Let)]
        self.splits = [s.name for s in splits(pb)]

    def run(self) -> None:
        self.event_rules()
        for step in self.pb.steps:
            for action in actions(step.body):
                self.action(action)
        for site in sites(self.pb):
            self.expr(site.expr, site)

    def report(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.ctx.report(Diagnostic.make(code, message, span, help))

    # ------------------------------------------------------------ events
    def event_rules(self) -> None:
        for item in self.pb.items:
            if isinstance(item, (n.EnrollOn, n.StopOn, n.PauseOn)):
                self.event(item.event, item.event_span)

    def event(self, name: str, span: Span) -> None:
        """E207 when the project file knows no such event (built in or declared)."""
        if self.config is None or self.config.event_fields(name) is not None:
            return
        guess = did_you_mean(name, self.config.all_events())
        help = f"did you mean {guess}?" if guess else "declare it under `events:` in fsl.yaml"
        self.report("E207", f"unknown event {name}", span, help)

    # ----------------------------------------------------------- actions
    def action(self, action: n.Action) -> None:
        if isinstance(action, n.Goto):
            self.step_name(action.step, action.step_span)
        elif isinstance(action, n.WaitFor):
            self.event(action.event, action.event_span)
        elif isinstance(action, n.SetField):
            self.set_target(action.path)
        elif isinstance(action, n.Split) and action.pick is not None:
            self.event(action.pick.event, action.pick.event_span)

    def split_name(self, name: str, span: Span) -> None:
        """E307 for `variant(NAME)` when the playbook has no split NAME (v1.1)."""
        if name in self.splits:
            return
        guess = did_you_mean(name, self.splits)
        names = list(dict.fromkeys(self.splits))
        if guess:
            help = f"did you mean {guess}?"
        elif names:
            help = f"the splits of {self.pb.name} are {', '.join(names)}"
        else:
            help = f"playbook {self.pb.name} has no split"
        self.report("E307", f"unknown split {name} in playbook {self.pb.name}", span, help)

    def step_name(self, name: str, span: Span) -> None:
        if name not in self.steps:
            guess = did_you_mean(name, self.steps)
            names = list(dict.fromkeys(self.steps))
            if guess:
                help = f"did you mean {guess}?"
            elif len(names) == 1:
                help = f"the only step of {self.pb.name} is {names[0]}"
            else:
                help = f"the steps of {self.pb.name} are {', '.join(names)}"
            self.report("E201", f"unknown step {name} in playbook {self.pb.name}", span, help)

    def set_target(self, path: n.Path) -> None:
        # `set` writes a field (contact.tier) or an enrollment variable (vars.angle).
        if path.root in ("event", "enrollment"):
            self.report("E204", f"cannot set {path.dotted}: `set` writes a contact, deal or stakeholder field "
                        "or an enrollment variable vars.NAME", path.span)
            return
        self.path(path, None)

    # ------------------------------------------------------- expressions
    def expr(self, expr: n.Expr, site: Site) -> None:
        if isinstance(expr, n.Path):
            self.path(expr, site)
        elif isinstance(expr, n.Name):
            self.bare_name(expr)
        elif isinstance(expr, n.Call):
            self.call(expr, site)
        elif isinstance(expr, n.Unary):
            self.expr(expr.operand, site)
        elif isinstance(expr, n.Binary):
            self.expr(expr.left, site)
            self.expr(expr.right, site)
        elif isinstance(expr, n.Conditional):
            for part in (expr.then, expr.cond, expr.other):
                self.expr(part, site)
        elif isinstance(expr, n.ListExpr):
            for item in expr.items:
                self.expr(item, site)

    def bare_name(self, name: n.Name) -> None:
        # Outside a function's argument list a bare name can only be a `let`.
        if name.name in self.lets:
            return
        guess = did_you_mean(name.name, self.lets)
        if guess:
            help = f"did you mean {guess}?"
        elif name.name in self.steps:
            help = f"{name.name} is a step; test its message with a function such as opened({name.name})"
        elif field := self.field_named(name.name):
            help = f"did you mean {field}?"
        else:
            help = "a bare name refers to a `let`; fields are written contact.NAME, deal.NAME, ..."
        self.report("E204", f"unknown name {name.name}", name.span, help)

    def field_named(self, name: str) -> str | None:
        if self.config is None:
            return None
        for entity in ENTITIES:
            if name in self.config.schema_.fields(entity):
                return f"{entity}.{name}"
        return None

    # -------------------------------------------------------------- paths
    def path(self, path: n.Path, site: Site | None) -> None:
        root, parts = path.root, path.parts
        if root == "vars":
            return  # enrollment variables are free-form
        if root == "enrollment":
            if parts[1:] != ENROLLMENT_FIELDS:
                self.unknown_field(path, [f"enrollment.{f}" for f in ENROLLMENT_FIELDS])
            return
        if root == "event":
            self.event_path(path, site)
            return
        if root in ENTITIES:
            if self.config is not None:
                self.fields(path, root, self.config.schema_.fields(root))
            return
        guess = did_you_mean(root, ROOTS)
        self.report("E204", f"unknown name {path.dotted}: a path starts with {', '.join(ROOTS)}", path.span,
                    f"did you mean {guess}.{'.'.join(parts[1:])}?" if guess else None)

    def event_path(self, path: n.Path, site: Site | None) -> None:
        event = site.event if site is not None else None
        if event is None:
            self.report("E204", f"{path.dotted} is not available here: `event` is only known in {EVENT_PLACES}",
                        path.span)
            return
        if self.config is None:
            return
        fields = self.config.event_fields(event)
        if fields is not None:  # an unknown event is reported once, as E207
            self.fields(path, f"event {event}", fields, root="event")

    def fields(self, path: n.Path, owner: str, fields: dict[str, FieldType], root: str | None = None) -> None:
        root = root or path.root
        name = path.parts[1]
        if name not in fields:
            self.unknown_field(path, [f"{root}.{f}" for f in fields], owner)
        elif len(path.parts) > 2:
            self.report("E204", f"unknown field {path.dotted}: {root}.{name} is a {fields[name].kind} "
                        "and has no fields", path.span)

    def unknown_field(self, path: n.Path, candidates: list[str], owner: str | None = None) -> None:
        # Compare field names alone: a shared `contact.` prefix would make any two look alike.
        names = {c.split(".", 1)[1]: c for c in candidates}
        guess = did_you_mean(path.parts[1], names)
        if guess:
            help = f"did you mean {names[guess]}?"
        elif owner and owner.startswith("event "):
            help = f"{owner} has " + (f"the fields {', '.join(c.split('.', 1)[1] for c in candidates)}"
                                      if candidates else "no fields")
        elif path.root in ENTITIES:
            help = f"declare it under `schema: {path.root}:` in fsl.yaml"
        elif path.root == "enrollment":
            help = "the enrollment has one field: enrollment.started_at"
        else:
            help = None
        self.report("E204", f"unknown field {path.dotted}", path.span, help)

    # -------------------------------------------------------------- calls
    def call(self, call: n.Call, site: Site) -> None:
        arity = FUNCTIONS.get(call.func)
        if arity is None:
            guess = did_you_mean(call.func, FUNCTIONS)
            self.report("E212", f"unknown function {call.func}()", call.span,
                        f"did you mean {guess}()?" if guess else f"the functions are {', '.join(FUNCTIONS)}")
            # What its arguments mean is unknown: only check the ones that are not bare names.
            for arg in call.args:
                if not isinstance(arg, n.Name):
                    self.expr(arg, site)
            return
        low, high = arity
        if len(call.args) < low or (high is not None and len(call.args) > high):
            self.report("E212", f"{call.func}() takes {_count(low, high)}, not {len(call.args)}", call.span,
                        f"write {_signature(call.func)}")
        args = list(call.args)
        first = args[0] if args else None
        if isinstance(first, n.Name):
            if call.func in ENGAGEMENT:
                self.step_name(first.name, first.span)
                args = args[1:]
            elif call.func in EVENT_FUNCTIONS:
                self.event(first.name, first.span)
                args = args[1:]
            elif call.func == "variant":
                self.split_name(first.name, first.span)
                args = args[1:]
        for arg in args:
            self.expr(arg, site)


SIGNATURES = {
    "opened": "opened([STEP])",
    "clicked": 'clicked([STEP] [, "LINK"])',
    "replied": "replied([STEP])",
    "forwarded": "forwarded([STEP])",
    "delivered": "delivered([STEP])",
    "count": "count(EVENT [, DURATION])",
    "last": "last(EVENT)",
    "days_since": "days_since(DATETIME)",
    "now": "now()",
    "lower": "lower(STRING)",
    "len": "len(LIST)",
    "coalesce": "coalesce(A, B, ...)",
    "variant": "variant(SPLIT)",
}


def _signature(func: str) -> str:
    return SIGNATURES[func]


def _count(low: int, high: int | None) -> str:
    def args(k: int) -> str:
        return f"{k} argument" + ("" if k == 1 else "s")

    if high is None:
        return f"at least {args(low)}"
    if low == high:
        return "no arguments" if low == 0 else args(low)
    if not low:
        return f"at most {args(high)}"
    return f"{low} or {args(high)}" if high == low + 1 else f"{low} to {args(high)}"
