"""How enrollments move through the steps (graph.py):

E302  a `goto` loop in which no step waits: it would spin at once, forever
W401  a step no path leads to
W402  an engagement test that can never hold: its step sends nothing, or
      cannot have run yet where the test is made
W403  a rolling cap of one send that the steps' own spacing always breaks
"""
from __future__ import annotations

from collections.abc import Iterator

from ..diagnostics import Diagnostic
from ..durations import Duration
from ..syntax import nodes as n
from .context import CheckContext
from .graph import StepGraph
from .walk import ENGAGEMENT, action_exprs, actions, blocks, calls, has_wait, sends, setting_sites, show


def check_flow(ctx: CheckContext) -> None:
    for _, pb in ctx.playbooks():
        if not pb.steps:
            continue
        g = StepGraph.build(pb)
        _loops(ctx, g)
        _unreachable(ctx, g)
        _Conditions(ctx, pb, g).run()
        _caps(ctx, pb, g)


# -------------------------------------------------------------------- E302

def _delayed(step: n.Step) -> bool:
    """Whether running the step always takes time.

    `at day N` does not: when a loop comes back after day N, the step is due
    at once.  `at cron` waits for the next firing; `every` for its period.
    """
    t = step.timing
    if isinstance(t, n.After) and not t.duration.is_zero:
        return True
    return isinstance(t, n.AtCron) or step.every is not None or has_wait(step)


def _loops(ctx: CheckContext, g: StepGraph) -> None:
    still = {i for i, step in enumerate(g.steps) if not _delayed(step)}
    for part in g.cycles(still):
        gotos = [go for i in sorted(part) for go, t in g.gotos[i] if t in part]
        first = min(gotos, key=lambda go: (go.span.line, go.span.column))
        names = ", ".join(g.steps[i].name for i in sorted(part))
        names = f"steps {names}" if len(part) > 1 else f"step {names}"
        ctx.report(Diagnostic.make(
            "E302", f"`goto {first.step}` makes a loop with no delay ({names}): it would repeat at once, forever",
            first.span, "give a step of the loop a delay, such as `after 1 day`, or a `wait`"))


# -------------------------------------------------------------------- W401

def _unreachable(ctx: CheckContext, g: StepGraph) -> None:
    reach = g.reachable()
    for i, step in enumerate(g.steps):
        if i in reach:
            continue
        prev = g.steps[i - 1]
        if i - 1 not in reach:
            why = f"it comes after step {prev.name}, which can never run either"
        elif prev.every is not None and prev.every.max is None:
            why = f"step {prev.name} before it repeats forever (`every` with no `max`)"
        else:
            why = f"step {prev.name} before it always ends with `end` or `goto`, and no `goto` leads to it"
        ctx.report(Diagnostic.make("W401", f"step {step.name} can never run: {why}", step.name_span,
                                   f"add a `goto {step.name}` where it should run, or remove the step"))


# -------------------------------------------------------------------- W402

def _in_order(body: tuple[n.Action, ...] | None, sent: bool = False) -> Iterator[tuple[n.Expr, bool]]:
    """(expression, whether a message may have been sent earlier in the step), in execution order."""
    for action in body or ():
        for expr, _, _ in action_exprs(action):
            yield expr, sent
        for block in blocks(action):
            yield from _in_order(block, sent)
        sent = sent or any(isinstance(a, n.Send) for a in actions((action,)))


class _Conditions:
    def __init__(self, ctx: CheckContext, pb: n.Playbook, g: StepGraph) -> None:
        self.ctx, self.pb, self.g = ctx, pb, g
        self.reach = g.reachable()
        # Steps that send and can run: the only ones whose messages can be tested.
        self.sending = {i for i, step in enumerate(g.steps) if sends(step) and i in self.reach}

    def run(self) -> None:
        for site in setting_sites(self.pb):
            if site.where == "let":
                continue  # a `let` may be used anywhere: when it runs is unknown
            for call in calls(site.expr, ENGAGEMENT):
                self.playbook_level(call, site.where)
        for i, step in enumerate(self.g.steps):
            if i not in self.reach:
                continue  # W401 says it all
            for expr, sent in _in_order(step.body):
                for call in calls(expr, ENGAGEMENT):
                    self.in_step(call, i, sent)

    def report(self, call: n.Call, why: str) -> None:
        self.ctx.report(Diagnostic.make("W402", f"{show(call)} can never be true: {why}", call.span,
                                        "test the message of a step that sends one and runs earlier"))

    def target(self, call: n.Call) -> tuple[bool, int | None]:
        """(whether the call names a step, its index or None when unknown)."""
        if call.args and isinstance(call.args[0], n.Name):
            return True, self.g.index.get(call.args[0].name)
        return False, None

    def playbook_level(self, call: n.Call, where: str) -> None:
        named, t = self.target(call)
        if where.startswith("enroll"):
            self.report(call, f"`{where}` is evaluated before the enrollment has sent anything")
        elif named and t is not None and t not in self.sending:
            self.report(call, self.silent(t))
        elif not named and not self.sending:
            self.report(call, f"playbook {self.pb.name} sends no message")

    def silent(self, t: int) -> str:
        name = self.g.steps[t].name
        return f"step {name} never runs" if t not in self.reach else f"step {name} sends no message"

    def in_step(self, call: n.Call, i: int, sent: bool) -> None:
        named, t = self.target(call)
        here = self.g.steps[i].name
        if named:
            if t is None:
                return  # E201
            if t not in self.sending:
                self.report(call, self.silent(t))
            elif not self.has_run(t, i, sent):
                if t == i:
                    self.report(call, f"step {here} tests its own message before it sends one")
                else:
                    self.report(call, f"step {self.g.steps[t].name} cannot have run yet when step {here} runs")
        elif not any(self.has_run(s, i, sent) for s in self.sending):
            self.report(call, f"no message has been sent yet when step {here} runs")

    def has_run(self, t: int, i: int, sent: bool) -> bool:
        """Whether step t can have sent before the test in step i is made."""
        if t == i:
            return sent or self.g.steps[i].every is not None or i in self.g.after(i)
        return i in self.g.after(t)


# -------------------------------------------------------------------- W403

def _caps(ctx: CheckContext, pb: n.Playbook, g: StepGraph) -> None:
    """A rolling cap of 1 per D defers, every time, a send due less than D after another."""
    caps = [(c.channel, c.per, _cap_text(c.channel, c.per)) for c in pb.of(n.Cap) if c.per and c.limit == 1]
    if ctx.config is not None:
        caps += [(c.channel, c.per, f"the project cap `{_cap_text(c.channel, c.per)}` (fsl.yaml)")
                 for c in ctx.config.caps if c.limit == 1 and c.per is not None]
    # (seconds, channel, per, text) of the caps whose period has a fixed length
    fixed = [(secs, *c) for c in caps if (secs := c[1].nominal_seconds()) is not None]
    fixed.sort(key=lambda c: -c[0])  # one warning per step: the widest cap
    reach = g.reachable()
    for i, step in enumerate(g.steps):
        for seconds, channel, per, text in fixed:
            if i not in reach or not any(channel is None or s.channel == channel for s in sends(step)):
                continue
            gap, after = _gap(g, i, channel)
            if gap is not None and gap < seconds:
                ctx.report(Diagnostic.make(
                    "W403", f"step {step.name} is due {after}, but {text} allows one "
                    f"{channel + ' ' if channel else ''}send per {per}: it will be deferred every time",
                    step.name_span, f"space the sends at least {per} apart, or change the cap"))
                break


def _cap_text(channel: str | None, per: Duration) -> str:
    return f"cap {channel + ' ' if channel else ''}1 per {per}"


def _gap(g: StepGraph, i: int, channel: str | None) -> tuple[int | None, str]:
    """Seconds from the previous send to this step's, when fixed; and how to say it."""
    step = g.steps[i]
    if step.every is not None:
        return step.every.duration.nominal_seconds(), f"every {step.every.duration}"
    if i == 0 or not g.falls[i - 1]:
        return None, ""
    prev = g.steps[i - 1]
    if not _always_sends(prev.body, channel) or has_wait(prev):
        return None, ""
    if step.timing is None:
        return 0, f"right after step {prev.name} sends"
    if isinstance(step.timing, n.After):
        return step.timing.duration.nominal_seconds(), f"{step.timing.duration} after step {prev.name} sends"
    return None, ""


def _always_sends(body: tuple[n.Action, ...] | None, channel: str | None) -> bool:
    """Whether every way through the block sends (on `channel`, or on any channel)."""
    for action in body or ():
        if isinstance(action, n.Send) and (channel is None or action.channel == channel):
            return True
        parts = blocks(action)
        if parts and all(_always_sends(b, channel) for b in parts):
            return True
    return False
