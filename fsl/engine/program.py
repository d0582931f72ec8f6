"""A Plan turned into its executable form, once per plan.

The engine never reads the pydantic plan while it runs: expressions become
closures (evaluate.py), windows become the tuples timecalc caches, holiday
codes become calendars, and every action node gets its ordinal (the action
index of the idempotency key, depth-first through branches).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, overload
from zoneinfo import ZoneInfo

from fsl.compiler.exprtext import text as expr_text
from fsl.compiler.plan import DurationP, HolidaysP, Plan

from .evaluate import Ctx, Dur, Fn, compile_expr
from ..timecalc import WindowRange, holiday_calendar, resolve_zone

# ------------------------------------------------------------------ actions


@dataclass(slots=True)
class Send:
    channel: str
    template: str
    to: Fn | None
    with_: dict[str, Fn]
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class Task:
    task: str
    text: str
    to: Fn | None
    due: Dur | None
    line: int
    ordinal: int = 0
    playbook_owner: str | None = None  # who gets it when its assignee is none and so is contact.owner


@dataclass(slots=True)
class Notify:
    to: Fn
    text: str
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class Offer:
    percent: float
    expires: Dur | None
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class SetField:
    path: tuple[str, ...]
    value: Fn
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class Wait:
    duration: Dur
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class WaitFor:
    duration: Dur
    event: str
    where: Fn | None
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class Goto:
    step: str
    target: int
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class End:
    outcome: str
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class If:
    branches: list[tuple[Fn, list, int]]  # (condition, body, line)
    orelse: list | None
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class Match:
    subject: Fn
    cases: list[tuple[list, list, int]]  # (values, body, line)
    orelse: list | None
    line: int
    ordinal: int = 0


@dataclass(slots=True)
class Pick:
    """`pick winner by EVENT within DURATION confidence PERCENT` (v1.1)."""

    event: str
    within: Dur
    confidence: float  # a percentage


@dataclass(slots=True)
class Split:
    """(v1.1) an experiment.  `bounds[i]` is the first bucket after variant i's
    range: the variants take consecutive ranges of 10000 buckets in written order."""

    name: str
    step: str
    variants: list[tuple[str, list, int]]  # (name, body, line)
    bounds: list[int]
    percents: list[float]
    pick: Pick | None
    line: int
    ordinal: int = 0

    def names(self) -> list[str]:
        return [v[0] for v in self.variants]


# ------------------------------------------------------------------ program


@dataclass(slots=True)
class Step:
    index: int
    name: str
    kind: str  # next, after, at_day, at_cron
    after: Dur | None
    day: int | None
    minute: int | None
    cron: str | None
    every: Dur | None
    max: int | None
    body: list
    line: int
    waits: dict[int, "WaitFor"] = field(default_factory=dict)  # ordinal -> `wait up to ... for`
    # ordinal of an action inside a split's variant -> (split, variant): a send records it (v1.1)
    tags: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Cap:
    channel: str | None
    limit: int
    per: Dur | None  # None: a total cap
    across_deal: bool
    line: int
    scope: str  # "playbook", "deal", "enrollment" or "contact" (a global cap)
    calendar: str | None = None  # (v1.1) "week" or "month": a calendar period instead of `per`

    def counts(self, kind: str, channel: str | None) -> bool:
        """Whether an action of this kind/channel counts toward the cap."""
        if self.channel is None:
            return kind == "send"
        if kind == "notify":
            return self.channel == "notify"
        return channel == self.channel

    def describe(self) -> str:
        what = f"cap {self.channel + ' ' if self.channel else ''}{self.limit}"
        if self.calendar is not None:
            text = f"{what} per calendar {self.calendar}"
        elif self.per is None:
            return what + " total"
        else:
            unit = self.per.unit.replace("_", " ")
            text = f"{what} per {self.per.amount:g} {unit[:-1] if self.per.amount == 1 else unit}"
        if self.scope == "contact":
            text += " (global)"
        return text + (" across deal" if self.across_deal else "")


@dataclass(slots=True)
class Rule:
    """A `stop on`, `pause on` or `stop when` rule, or an `enroll on`."""

    event: str | None
    where: Fn | None
    outcome: str = "stopped"
    across_deal: bool = False
    for_: Dur | None = None
    until: Fn | None = None
    default: Dur | None = None
    for_each_stakeholder: bool = False
    line: int = 0


@dataclass(slots=True)
class EnrollWhen:
    cond: Fn
    check_every: Dur | None
    check_cron: str | None
    uses_deal: bool
    time_dependent: bool  # reads now(), days_since or a windowed count
    line: int


@dataclass
class Program:
    plan: Plan
    name: str
    hash: str
    priority: int
    order: tuple  # same-instant order: higher priority first, then name
    steps: list[Step]
    step_index: dict[str, int]
    window: tuple | None
    holidays: Any  # the fixed calendar, or the default of `skip holidays EXPR default CODE`
    caps_total: list[Cap]
    caps_rolling: list[Cap]
    stop_on: dict[str, list[Rule]]
    pause_on: dict[str, list[Rule]]
    stop_when: list[Rule]
    enroll_on: dict[str, list[Rule]]
    enroll_when: EnrollWhen | None
    reenroll_after: Dur | None
    lets: dict[str, Fn]
    tz_expr: Fn | None
    tz_default: str | None
    project_zone: str | None
    source_file: str | None = None
    sends: bool = False  # some step sends a message (unsubscribed contacts never re-enter)
    best_within: Dur | None = None  # (v1.1) `send at best time within D`: the longest hold
    zone_by_contact: bool = True  # the zone depends on the contact's fields alone (cacheable by version)
    holidays_expr: Fn | None = None  # (v1.1) `skip holidays EXPR`: the contact's own calendar
    holidays_source: str = ""  # that expression as text, for the journal
    holidays_line: int = 0  # and its line
    splits: dict[str, Split] = field(default_factory=dict)  # v1.1 experiments, by name
    _zones: dict = field(default_factory=dict)
    _calendars: dict = field(default_factory=dict)

    def zone(self, ctx: Ctx) -> ZoneInfo:
        """The contact's zone: the timezone expression, its default, the
        project default, UTC (each used only when it is a valid zone)."""
        value = self.tz_expr(ctx) if self.tz_expr is not None else None
        key = (value, self.tz_default, self.project_zone)
        z = self._zones.get(key)
        if z is None:
            z = self._zones[key] = resolve_zone(value if isinstance(value, str) else None,
                                                self.tz_default, self.project_zone)
        return z


    def calendar(self, ctx: Ctx) -> tuple[Any, str | None]:
        """The contact's holiday calendar and, when the default had to stand
        in for the contact's value, why (for the journal); (None, None)
        without `skip holidays`."""
        if self.holidays_expr is None:
            return self.holidays, None
        value = self.holidays_expr(ctx)
        key = value if isinstance(value, str) else None
        found = self._calendars.get(key)
        if found is None:
            cal = holiday_calendar(key) if key is not None and key.strip() else None
            why = None
            if cal is None:
                shown = "none" if value is None else f'"{value}", not a known country code'
                fallback = f"the holidays of {self.holidays.code}, the default" if self.holidays is not None \
                    else "no holidays (no default)"
                why = f"{fallback}: {self.holidays_source} is {shown}"
                cal = self.holidays
            found = (cal, why)
            if len(self._calendars) < 4096:  # distinct values are few (countries); a free-text field stays bounded
                self._calendars[key] = found
        return found


@overload
def _dur(d: DurationP) -> Dur: ...
@overload
def _dur(d: DurationP | None) -> Dur | None: ...
def _dur(d: DurationP | None) -> Dur | None:
    return None if d is None else Dur(d.amount, d.unit)


def build(plan: Plan, project_zone: str | None = None) -> Program:
    """The executable form of a plan."""
    index = {s.name: i for i, s in enumerate(plan.steps)}
    steps = []
    splits: dict[str, Split] = {}
    for i, s in enumerate(plan.steps):
        counter = [0]
        body = _body(s.body, index, counter, plan.owner)
        t = s.timing
        steps.append(Step(i, s.name, t.kind, _dur(t.after), t.day, t.minute, t.cron,
                          _dur(t.every), t.max, body, s.line, {w.ordinal: w for w in _waits(body)},
                          _tags(body, s.name, splits)))
    caps_total: list[Cap] = []
    caps_rolling: list[Cap] = []
    for c in plan.caps:
        total = c.per is None and c.calendar is None
        scope = "enrollment" if total else ("deal" if c.across_deal else "playbook")
        cap = Cap(c.channel, c.limit, _dur(c.per), c.across_deal, c.line, scope, c.calendar)
        (caps_total if total else caps_rolling).append(cap)
    ew = plan.enroll_when
    window = None
    if plan.window:
        window = tuple(WindowRange(frozenset(r.days), r.start, r.end) for r in plan.window)
    return Program(
        plan=plan, name=plan.playbook, hash=plan.hash, priority=plan.priority,
        order=(-plan.priority, plan.playbook), steps=steps, step_index=index,
        window=window,
        holidays=_holidays(plan.holidays),
        caps_total=caps_total, caps_rolling=caps_rolling,
        stop_on=_by_event(Rule(r.event, _opt(r.where), r.outcome, r.across_deal, line=r.line)
                          for r in plan.stop_on),
        pause_on=_by_event(Rule(r.event, _opt(r.where), for_=_dur(r.for_), until=_opt(r.until),
                                default=_dur(r.default), line=r.line) for r in plan.pause_on),
        stop_when=[Rule(None, compile_expr(r.cond), r.outcome, line=r.line) for r in plan.stop_when],
        enroll_on=_by_event(Rule(r.event, _opt(r.where), for_each_stakeholder=r.for_each_stakeholder,
                                 line=r.line) for r in plan.enroll_on),
        enroll_when=None if ew is None else EnrollWhen(
            compile_expr(ew.cond), _dur(ew.check_every), ew.check_cron, ew.uses_deal,
            time_dependent(ew.cond, plan.lets), ew.line),
        reenroll_after=_dur(plan.reenroll_after),
        lets={k: compile_expr(v) for k, v in plan.lets.items()},
        tz_expr=_opt(plan.timezone.expr), tz_default=plan.timezone.default,
        project_zone=project_zone,
        source_file=plan.source.file if plan.source else None,
        sends=any(step.sends for step in plan.steps),
        zone_by_contact=_contact_only(plan.timezone.expr)
        and (not isinstance(plan.holidays, HolidaysP) or _contact_only(plan.holidays.expr)),
        holidays_expr=compile_expr(plan.holidays.expr) if isinstance(plan.holidays, HolidaysP) else None,
        holidays_source=expr_text(plan.holidays.expr) if isinstance(plan.holidays, HolidaysP) else "",
        holidays_line=plan.holidays.line if isinstance(plan.holidays, HolidaysP) else 0,
        splits=splits,
        best_within=_dur(plan.best_time.within) if plan.best_time is not None else None,
    )


def _holidays(spec: str | HolidaysP | None) -> Any:
    """The fixed calendar, or the default one of the per-contact form."""
    code = spec.default if isinstance(spec, HolidaysP) else spec
    return holiday_calendar(code) if code else None


def _contact_only(tree: Any) -> bool:
    """Whether an expression reads nothing but the contact's fields (no deal,
    stakeholder, event, let or function): then its value changes only with
    the contact's version."""
    if isinstance(tree, dict):
        if "let" in tree or "call" in tree:
            return False
        path = tree.get("path")
        if path is not None and (not path or path[0] != "contact"):
            return False
        return all(_contact_only(v) for v in tree.values())
    if isinstance(tree, list):
        return all(_contact_only(v) for v in tree)
    return True


def _opt(tree) -> Fn | None:
    return None if tree is None else compile_expr(tree)


def _by_event(rules) -> dict[str, list[Rule]]:
    out: dict[str, list[Rule]] = {}
    for r in rules:
        out.setdefault(r.event, []).append(r)
    return out


def time_dependent(tree: Any, lets: dict[str, Any], _seen: frozenset = frozenset()) -> bool:
    """Whether an expression's value can change with time alone (no new data):
    it calls now() or days_since, or counts events within a duration."""
    if isinstance(tree, dict):
        call = tree.get("call")
        if call in ("now", "days_since") or (call == "count" and len(tree.get("args", [])) > 1):
            return True
        name = tree.get("let")
        if name is not None and name not in _seen and name in lets:
            if time_dependent(lets[name], lets, _seen | {name}):
                return True
        return any(time_dependent(v, lets, _seen) for v in tree.values())
    if isinstance(tree, list):
        return any(time_dependent(v, lets, _seen) for v in tree)
    return False


def _waits(body: list):
    for node in body:
        if type(node) is WaitFor:
            yield node
        elif type(node) is If:
            for _, sub, _ in node.branches:
                yield from _waits(sub)
            yield from _waits(node.orelse or [])
        else:
            for sub in _sub_bodies(node):
                yield from _waits(sub)


def _sub_bodies(node) -> list[list]:
    if type(node) is If:
        return [sub for _, sub, _ in node.branches] + [node.orelse or []]
    if type(node) is Match:
        return [sub for _, sub, _ in node.cases] + [node.orelse or []]
    if type(node) is Split:
        return [sub for _, sub, _ in node.variants]
    return []


def _tags(body: list, step: str, splits: dict[str, Split], tag: tuple[str, str] | None = None) -> dict:
    """Which split and variant each action sits in (innermost), and the step of each split."""
    out: dict[int, tuple[str, str]] = {}
    for node in body:
        if tag is not None:
            out[node.ordinal] = tag
        if type(node) is Split:
            node.step = step
            splits.setdefault(node.name, node)
            for name, sub, _ in node.variants:
                out.update(_tags(sub, step, splits, (node.name, name)))
        else:
            for sub in _sub_bodies(node):
                out.update(_tags(sub, step, splits, tag))
    return out


def _split(n, index: dict[str, int], counter: list[int], owner: str | None) -> Split:
    bounds, edge = [], 0
    for v in n.variants:
        edge += round(v.percent * 100)  # hundredths of a percent (the checker makes them add up to 10000)
        bounds.append(edge)
    pick = None if n.pick is None else Pick(n.pick.event, _dur(n.pick.within), n.pick.confidence)
    return Split(n.name, "", [(v.name, _body(v.body, index, counter, owner), v.line) for v in n.variants],
                 bounds, [v.percent for v in n.variants], pick, n.line)


def _body(nodes, index: dict[str, int], counter: list[int], owner: str | None = None) -> list:
    return [_node(n, index, counter, owner) for n in nodes]


def _node(n, index: dict[str, int], counter: list[int], owner: str | None):
    ordinal = counter[0]
    counter[0] += 1
    k = n.kind
    if k == "send":
        out: Any = Send(n.channel, n.template, _opt(n.to), {w: compile_expr(v) for w, v in n.with_.items()}, n.line)
    elif k == "task":
        out = Task(n.task, n.text, _opt(n.to), _dur(n.due), n.line, playbook_owner=owner)
    elif k == "notify":
        out = Notify(compile_expr(n.to), n.text, n.line)
    elif k == "offer":
        out = Offer(n.percent, _dur(n.expires), n.line)
    elif k == "set":
        out = SetField(tuple(n.path), compile_expr(n.value), n.line)
    elif k == "wait":
        out = Wait(_dur(n.duration), n.line)
    elif k == "wait_for":
        out = WaitFor(_dur(n.duration), n.event, _opt(n.where), n.line)
    elif k == "goto":
        out = Goto(n.step, index.get(n.step, -1), n.line)
    elif k == "end":
        out = End(n.outcome, n.line)
    elif k == "if":
        out = If([(compile_expr(b.cond), _body(b.body, index, counter, owner), b.line) for b in n.branches],
                 _body(n.orelse, index, counter, owner) if n.orelse is not None else None, n.line)
    elif k == "match":
        out = Match(compile_expr(n.subject),
                    [(list(c.values), _body(c.body, index, counter, owner), c.line) for c in n.cases],
                    _body(n.orelse, index, counter, owner) if n.orelse is not None else None, n.line)
    elif k == "split":
        out = _split(n, index, counter, owner)
    else:  # pragma: no cover - the plan model admits no other kinds
        raise ValueError(f"unknown action {k!r}")
    out.ordinal = ordinal
    return out
