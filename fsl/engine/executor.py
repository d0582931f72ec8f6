"""Run one segment of a step: its actions up to the end of the step or the
next `wait`, `goto` or `end` (RUNTIME.md section 3 step 5).

The run is a *proposal*: branches are evaluated now, `set` and `offer` are
applied as they go (so later conditions in the step see them), and then the
live state is put back.  The engine checks the proposed sends against the
caps and the `stop when` rules and only then commits the segment, replaying
its effects.  So a deferred step leaves no trace, and the caps are checked
against exactly the sends the step would make.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .evaluate import Ctx, Dur, _eq, shift, truthy
from .model import Enrollment
from .experiments import bucket, variant_of
from .program import End, Goto, If, Match, Notify, Offer, Send, SetField, Split, Step, Task, Wait, WaitFor


@dataclass(slots=True)
class Pending:
    """An action decided by the run, committed as an ActionRecord."""

    kind: str  # send, task, notify, set
    ordinal: int
    line: int
    channel: str | None = None
    template: str | None = None
    offer: dict | None = None
    to: Any = None
    text: str | None = None
    due: datetime | None = None
    data: dict | None = None


@dataclass(slots=True)
class Segment:
    actions: list[Pending] = field(default_factory=list)
    effects: list[tuple] = field(default_factory=list)  # ("set", path, value) | ("offer", dict)
    # branch decisions: (reason, line, number of actions decided before it)
    notes: list[tuple[str, int, int]] = field(default_factory=list)
    # sends not made because their `to` is none, tasks given to an owner instead:
    # (reason, line), journalled as warnings
    skipped: list[tuple[str, int]] = field(default_factory=list)
    control: str = "done"  # done, wait, wait_for, goto, end
    node: Any = None  # the Wait / WaitFor / Goto / End that stopped the run
    resume: tuple[int, ...] | None = None  # where a wait resumes

    def counted(self, cap) -> int:
        n = 0
        for a in self.actions:
            if cap.counts(a.kind, a.channel):
                n += 1
        return n


class _Run:
    def __init__(self, ctx: Ctx, en: Enrollment, tags: dict[int, tuple[str, str]]) -> None:
        self.ctx = ctx
        self.en = en
        self.tags = tags  # ordinal -> (split, variant) of the actions inside a split
        self.seg = Segment()
        self.saved: dict[str, dict] = {}

    # -- walking ---------------------------------------------------------
    def run(self, body: list, start: int, prefix: tuple) -> bool:
        """Run body[start:]; True when a control action stopped the run."""
        for i in range(start, len(body)):
            node = body[i]
            t = type(node)
            if t is Send:
                self.send(node)
            elif t is If or t is Match or t is Split:
                b, sub = self.split(node) if t is Split else self.choose(node)
                if sub and self.run(sub, 0, prefix + (i, b)):
                    return True
            elif t is Task:
                self.task(node)
            elif t is SetField:
                self.set(node)
            elif t is Offer:
                self.offer(node)
            elif t is Notify:
                to = node.to(self.ctx)
                self.seg.actions.append(Pending("notify", node.ordinal, node.line, to=to, text=node.text))
            else:  # Wait, WaitFor, Goto, End
                self.seg.control = {Wait: "wait", WaitFor: "wait_for", Goto: "goto", End: "end"}[t]
                self.seg.node = node
                if t is Wait or t is WaitFor:
                    self.seg.resume = prefix + (i + 1,)
                return True
        return False

    def resume(self, body: list, path: tuple, prefix: tuple) -> bool:
        """Continue inside the branches recorded in `path`, then after them."""
        if len(path) == 1:
            return self.run(body, path[0], prefix)
        i, b = path[0], path[1]
        sub = _branch_body(body[i], b)
        if self.resume(sub, path[2:], prefix + (i, b)):
            return True
        return self.run(body, i + 1, prefix)

    def note(self, reason: str, line: int) -> None:
        self.seg.notes.append((reason, line, len(self.seg.actions)))

    def choose(self, node) -> tuple[int, list]:
        ctx = self.ctx
        if type(node) is If:
            for b, (cond, body, line) in enumerate(node.branches):
                if truthy(cond(ctx)):
                    self.note(f"{'if' if b == 0 else 'elif'} at line {line} holds", line)
                    return b, body
            self.note("no condition holds: else" if node.orelse is not None else "no condition holds",
                      node.line)
            return -1, node.orelse or []
        value = node.subject(ctx)
        for b, (values, body, line) in enumerate(node.cases):
            if any(_eq(ctx, value, _case_value(v)) for v in values):
                self.note(f"match {value!r}: case at line {line}", line)
                return b, body
        self.note(f"match {value!r}: no case" + (", else" if node.orelse is not None else ""), node.line)
        return -1, node.orelse or []

    def split(self, node: Split) -> tuple[int, list]:
        """A split's variant: the one this enrollment took before (a `goto` back,
        a resumed step), else the recorded winner or the contact's bucket."""
        names = node.names()
        kept = self.en.variants.get(node.name)
        if kept in names:
            b = names.index(kept)
            self.note(f"split {node.name}: variant {kept}, as taken before", node.line)
            return b, node.variants[b][1]
        env = self.ctx.env
        if env is not None:
            b, reason = env.split_choice(self.ctx, node)
        else:  # expressions evaluated without the engine's services: the bucket alone
            b = variant_of(node.bounds, bucket(self.en.contact, self.en.playbook, node.name))
            reason = f"split {node.name}: variant {names[b]}"
        self.note(reason, node.line)
        if "variants" not in self.saved:
            self.saved["variants"] = {"v": dict(self.en.variants)}
        self.en.variants[node.name] = names[b]
        self.seg.effects.append(("variant", node.name, names[b]))
        return b, node.variants[b][1]

    # -- actions ---------------------------------------------------------
    def send(self, node: Send) -> None:
        ctx = self.ctx
        offer = dict(self.en.offer) if self.en.offer is not None else None
        to = node.to(ctx) if node.to is not None else None
        if node.to is not None and _no_one(to):
            # `to contact.manager` with no manager: the message was meant for someone
            # else, so it must not fall back to the contact's own address.
            self.seg.skipped.append((f'send {node.channel} "{node.template}" skipped: its `to` is none '
                                     "(never sent to the contact instead)", node.line))
            return
        data = {k: f(ctx) for k, f in node.with_.items()} if node.with_ else None
        record: dict | None = {"with": data} if data else None
        tag = self.tags.get(node.ordinal)
        if tag is not None:  # a split's send: the experiment's figures count it (v1.1)
            record = {**(record or {}), "split": tag[0], "variant": tag[1]}
        self.seg.actions.append(Pending("send", node.ordinal, node.line, channel=node.channel,
                                        template=node.template, offer=offer, to=to, data=record))

    def task(self, node: Task) -> None:
        ctx = self.ctx
        to = node.to(ctx) if node.to is not None else ctx.contact.fields.get("owner")
        if _no_one(to):
            to = self.assignee(node)
        due = shift(ctx, ctx.now, node.due) if node.due is not None else ctx.now
        self.seg.actions.append(Pending("task", node.ordinal, node.line, channel=node.task,
                                        to=to, text=node.text, due=due))

    def assignee(self, node: Task) -> Any:
        """(LANGUAGE.md 6) a task whose assignee is none goes to contact.owner,
        then to the playbook's owner, and the journal says so."""
        contact_owner = self.ctx.contact.fields.get("owner")
        if node.to is not None and not _no_one(contact_owner):
            why, who, whom = "its `to` is none", contact_owner, f"contact.owner {contact_owner}"
        else:
            why = ("its `to` is none and " if node.to is not None else "") + "the contact has no owner"
            who, whom = node.playbook_owner, f"the playbook's owner {node.playbook_owner}"
        if who is None:
            self.seg.skipped.append((f"task {node.task}: {why}, and the playbook has no owner: "
                                     "it is created unassigned", node.line))
        else:
            self.seg.skipped.append((f"task {node.task}: {why}: assigned to {whom}", node.line))
        return who

    def offer(self, node: Offer) -> None:
        ctx = self.ctx
        expires = shift(ctx, ctx.now, node.expires) if node.expires is not None else None
        offer = {"percent": node.percent, "expires": expires}
        if "offer" not in self.saved:
            self.saved["offer"] = {"v": self.en.offer}
        self.en.offer = offer
        self.seg.effects.append(("offer", offer))

    def set(self, node: SetField) -> None:
        value = node.value(self.ctx)
        target = set_target(self.ctx, node.path)
        if target is None:
            return
        root = node.path[0]
        if root not in self.saved:
            self.saved[root] = dict(target)
        target[node.path[-1]] = value
        self.seg.effects.append(("set", node.path, value))
        self.seg.actions.append(Pending("set", node.ordinal, node.line,
                                        data={"path": list(node.path), "value": value}))

    def restore(self) -> None:
        for root, saved in self.saved.items():
            if root == "offer":
                self.en.offer = saved["v"]
                continue
            if root == "variants":
                self.en.variants = saved["v"]
                continue
            target = set_target(self.ctx, (root, ""))
            if target is not None:
                target.clear()
                target.update(saved)


def _no_one(to: Any) -> bool:
    """Whether a `to` value addresses nobody: none, blank text, an empty list."""
    if to is None:
        return True
    if isinstance(to, str):
        return not to.strip()
    return isinstance(to, (list, tuple, dict)) and not to


def set_target(ctx: Ctx, path: tuple) -> dict | None:
    """The dict a `set PATH = ...` writes into (contact, vars, deal, stakeholder)."""
    root = path[0]
    if root == "contact":
        return ctx.contact.fields if ctx.contact is not None else None
    if root == "vars":
        return ctx.enrollment.vars if ctx.enrollment is not None else None
    if root == "deal":
        return ctx.deal.fields if ctx.deal is not None else None
    if root == "stakeholder":
        return ctx.stakeholder
    return None


def _branch_body(node, b: int) -> list:
    if type(node) is If:
        return node.branches[b][1] if b >= 0 else (node.orelse or [])
    if type(node) is Match:
        return node.cases[b][1] if b >= 0 else (node.orelse or [])
    if type(node) is Split:
        return node.variants[b][1]
    return []


def _case_value(v):
    if isinstance(v, list) and len(v) == 2 and isinstance(v[1], str):
        return Dur(v[0], v[1])  # a duration literal in a case
    return v


def propose(step: Step, en: Enrollment, ctx: Ctx) -> Segment:
    """Run the next segment of `step` for `en` at ctx.now; leave no trace."""
    run = _Run(ctx, en, step.tags)
    if en.resume is None:
        if en.offer is not None:  # an offer rides only on the sends of its own step
            run.saved["offer"] = {"v": en.offer}
            en.offer = None
        run.run(step.body, 0, ())
    else:
        run.resume(step.body, en.resume, ())
    run.restore()
    return run.seg


def apply_effects(seg: Segment, ctx: Ctx, en: Enrollment, fresh_step: bool) -> None:
    """Commit a segment's `set`s and offers to the live state."""
    if fresh_step:
        en.offer = None
    for eff in seg.effects:
        if eff[0] == "offer":
            en.offer = eff[1]
        elif eff[0] == "variant":
            en.variants[eff[1]] = eff[2]
        else:
            target = set_target(ctx, eff[1])
            if target is not None:
                target[eff[1][-1]] = eff[2]
