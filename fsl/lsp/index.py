"""Every name a playbook uses, with its span: what hover, definition,
references and rename look up.

An occurrence is (kind, name, span, is_definition, playbook).  Kinds: step,
let, event, field (a dotted path), template, channel, function.  A bare name
means a step as the first argument of an engagement function (`opened(a)`),
an event as the first of `count`/`last`, and a `let` anywhere else -- the
checker's own reading (check/resolve.py).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..check.walk import ENGAGEMENT, EVENT_FUNCTIONS, actions, sites, sub_exprs
from ..diagnostics import Span
from ..syntax import nodes as n
from .convert import contains


@dataclass(frozen=True)
class Occurrence:
    kind: str
    name: str
    span: Span
    is_definition: bool
    playbook: n.Playbook
    event: str | None = None  # for fields under `event.`: the event in scope


def occurrences(module: n.Module) -> list[Occurrence]:
    out: list[Occurrence] = []
    for pb in module.playbooks:
        out.extend(_playbook(pb))
    return out


def at(module: n.Module, line: int, column: int) -> Occurrence | None:
    """The occurrence under a 1-based position, the innermost when several hold it."""
    found = [o for o in occurrences(module) if contains(o.span, line, column)]
    if not found:
        return None
    return min(found, key=lambda o: (o.span.end_line - o.span.line, o.span.end_column - o.span.column))


def playbook_at(module: n.Module, line: int) -> n.Playbook | None:
    for pb in module.playbooks:
        if pb.span.line <= line <= pb.span.end_line:
            return pb
    before = [pb for pb in module.playbooks if pb.span.line <= line]
    return before[-1] if before else None


def _playbook(pb: n.Playbook) -> Iterator[Occurrence]:
    for item in pb.items:
        if isinstance(item, n.Step):
            yield Occurrence("step", item.name, item.name_span, True, pb)
        elif isinstance(item, n.Let):
            yield Occurrence("let", item.name, item.name_span, True, pb)
        elif isinstance(item, (n.EnrollOn, n.StopOn, n.PauseOn)):
            yield Occurrence("event", item.event, item.event_span, False, pb)
        elif isinstance(item, n.Cap) and item.channel and item.channel_span is not None:
            yield Occurrence("channel", item.channel, item.channel_span, False, pb)
    for step in pb.steps:
        for action in actions(step.body):
            yield from _action(action, pb)
    exprs = [(e, site.event) for site in sites(pb) for e in sub_exprs(site.expr)]
    # a bare name as the step or event argument of a function is not a `let`
    arguments = {id(e.args[0]) for e, _ in exprs
                 if isinstance(e, n.Call) and e.args and e.func in (*ENGAGEMENT, *EVENT_FUNCTIONS)}
    for e, event in exprs:
        yield from _expr(e, pb, event, arguments)


def _action(action: n.Action, pb: n.Playbook) -> Iterator[Occurrence]:
    if isinstance(action, n.Goto):
        yield Occurrence("step", action.step, action.step_span, False, pb)
    elif isinstance(action, n.Send):
        yield Occurrence("channel", action.channel, action.channel_span, False, pb)
        yield Occurrence("template", action.template, action.template_span, False, pb)
    elif isinstance(action, n.WaitFor):
        yield Occurrence("event", action.event, action.event_span, False, pb)
    elif isinstance(action, n.SetField):
        yield Occurrence("field", action.path.dotted, action.path.span, False, pb)


def _expr(e: n.Expr, pb: n.Playbook, event: str | None, arguments: set[int]) -> Iterator[Occurrence]:
    if isinstance(e, n.Path):
        yield Occurrence("field", e.dotted, e.span, False, pb, event)
    elif isinstance(e, n.Call):
        s = e.span
        yield Occurrence("function", e.func, Span(s.file, s.line, s.column, s.line, s.column + len(e.func)), False, pb)
    elif isinstance(e, n.Name) and id(e) not in arguments:
        yield Occurrence("let", e.name, e.span, False, pb)
    if isinstance(e, n.Call) and e.args and isinstance(e.args[0], n.Name):
        first = e.args[0]
        if e.func in ENGAGEMENT:
            yield Occurrence("step", first.name, first.span, False, pb)
        elif e.func in EVENT_FUNCTIONS:
            yield Occurrence("event", first.name, first.span, False, pb)
