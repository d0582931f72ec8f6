"""Draw a plan as Mermaid (default) or Graphviz DOT: steps, branches, waits, stops.

Both renderers walk the same small graph model (`build`), so they always agree.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .exprtext import duration_text, text
from .plan import IfN, MatchN, Node, Plan, SplitN, StepP


@dataclass
class Graph:
    nodes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, label, shape)
    edges: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (from, to, label, dashed)

    def node(self, id_: str, label: str, shape: str = "box") -> str:
        self.nodes.append((id_, label, shape))
        return id_

    def edge(self, a: str, b: str, label: str = "", dashed: bool = False) -> None:
        self.edges.append((a, b, label, dashed))


def timing_text(step: StepP) -> str:
    t = step.timing
    parts = []
    if t.kind == "after":
        parts.append(f"after {duration_text(t.after)}")
    elif t.kind == "at_day":
        parts.append(f"at day {t.day}" + (f" {t.minute // 60:02d}:{t.minute % 60:02d}" if t.minute is not None else ""))
    elif t.kind == "at_cron":
        parts.append(f'at cron "{t.cron}"')
    if t.every:
        parts.append(f"every {duration_text(t.every)}" + (f" max {t.max}" if t.max else ""))
    return " ".join(parts) or "at once"


def action_text(a: Node) -> str:
    if a.kind == "send":
        return f'send {a.channel} "{a.template}"'
    if a.kind == "task":
        return f"task {a.task}" + (f" due {duration_text(a.due)}" if a.due else "")
    if a.kind == "notify":
        return f"notify {text(a.to)}"
    if a.kind == "offer":
        return f"offer {a.percent:g}%" + (f" for {duration_text(a.expires)}" if a.expires else "")
    if a.kind == "set":
        return f"set {'.'.join(a.path)} = {text(a.value)}"
    if a.kind == "wait":
        return f"wait {duration_text(a.duration)}"
    if a.kind == "wait_for":
        return f"wait up to {duration_text(a.duration)} for {a.event}"
    return a.kind


class _Builder:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.g = Graph()
        self.count = 0
        self.ends: dict[str, str] = {}

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def end(self, outcome: str) -> str:
        if outcome not in self.ends:
            self.ends[outcome] = self.g.node(f"end_{outcome}", f"end: {outcome}", "stadium")
        return self.ends[outcome]

    def build(self) -> Graph:
        p, g = self.plan, self.g
        entry = [f"on {e.event}" + (" for each stakeholder" if e.for_each_stakeholder else "") for e in p.enroll_on]
        if p.enroll_when:
            entry.append(f"when {text(p.enroll_when.cond)}")
        g.node("enroll", "enroll " + "; ".join(entry) if entry else "enroll by hand", "stadium")
        if p.stop_on or p.stop_when or p.pause_on:
            rules = [f"stop on {s.event}" + (f" where {text(s.where)}" if s.where else "") + f" → {s.outcome}" for s in p.stop_on]
            rules += [f"stop when {text(s.cond)} → {s.outcome}" for s in p.stop_when]
            rules += [f"pause on {s.event}" for s in p.pause_on]
            g.node("rules", "\n".join(rules), "note")
            g.edge("enroll", "rules", "any time", dashed=True)
        prev_exits = ["enroll"]
        for step in p.steps:
            sid = f"step_{step.name}"
            g.node(sid, f"{step.name}\n{timing_text(step)}", "box")
            for x in prev_exits:
                g.edge(x, sid, timing_text(step) if x != "enroll" or step.timing.kind != "next" else "")
            prev_exits = self.body(sid, step.body)
        for x in prev_exits:
            g.edge(x, self.end("completed"))
        return g

    def body(self, start: str, body: list[Node]) -> list[str]:
        """Draw actions from `start`; return the nodes that fall through to the next step."""
        exits = [start]
        for a in body:
            if a.kind in ("if", "match"):
                exits = self.branch(exits, a)
            elif a.kind == "split":
                exits = self.split(exits, a)
            elif a.kind == "goto":
                for x in exits:
                    self.g.edge(x, f"step_{a.step}", "goto")
                return []
            elif a.kind == "end":
                for x in exits:
                    self.g.edge(x, self.end(a.outcome))
                return []
            else:
                nid = self.g.node(self.fresh("a"), action_text(a), "round")
                for x in exits:
                    self.g.edge(x, nid)
                exits = [nid]
        return exits

    def branch(self, exits: list[str], a: IfN | MatchN) -> list[str]:
        did = self.g.node(self.fresh("d"), "match " + text(a.subject) if a.kind == "match" else "if", "diamond")
        for x in exits:
            self.g.edge(x, did)
        out: list[str] = []
        arms = ([(text(b.cond), b.body) for b in a.branches] if a.kind == "if"
                else [(", ".join(text({"lit": v}) for v in c.values), c.body) for c in a.cases])
        for label, body in arms:
            out.extend(self.arm(did, label, body))
        out.extend(self.arm(did, "else", a.orelse or []) if a.orelse is not None else [did])
        return out

    def split(self, exits: list[str], a: SplitN) -> list[str]:
        """A split: one branch per variant, labelled with its share (v1.1)."""
        label = f"split {a.name}"
        if a.pick is not None:
            label += (f"\npick winner by {a.pick.event} within {duration_text(a.pick.within)}"
                      f" at {a.pick.confidence:g}%")
        did = self.g.node(self.fresh("d"), label, "diamond")
        for x in exits:
            self.g.edge(x, did)
        out: list[str] = []
        for v in a.variants:
            out.extend(self.arm(did, f"{v.name} {v.percent:g}%", v.body))
        return out

    def arm(self, did: str, label: str, body: list[Node]) -> list[str]:
        if not body:
            return [did]
        first_id = self.fresh("b")
        self.g.node(first_id, label, "plain")
        self.g.edge(did, first_id)
        return self.body(first_id, body)


def build(plan: Plan) -> Graph:
    return _Builder(plan).build()


def _q(s: str) -> str:
    return s.replace('"', "#quot;").replace("\n", "<br/>")


_MERMAID = {"box": '["{}"]', "round": '("{}")', "stadium": '(["{}"])', "diamond": '{{"{}"}}',
            "note": '>"{}"]', "plain": '["{}"]'}


def mermaid(plans: list[Plan]) -> str:
    out = ["flowchart TD"]
    for p in plans:
        g = build(p)
        prefix = p.playbook + "_" if len(plans) > 1 else ""
        if len(plans) > 1:
            out.append(f'  subgraph {p.playbook}["playbook {p.playbook}"]')
        for id_, label, shape in g.nodes:
            out.append(f"    {prefix}{id_}" + _MERMAID[shape].format(_q(label)))
        for a, b, label, dashed in g.edges:
            arrow = "-.->" if dashed else "-->"
            out.append(f"    {prefix}{a} {arrow}" + (f'|"{_q(label)}"|' if label else "") + f" {prefix}{b}")
        if len(plans) > 1:
            out.append("  end")
    return "\n".join(out) + "\n"


_DOT = {"box": "box", "round": "box, style=rounded", "stadium": "oval", "diamond": "diamond",
        "note": "note", "plain": "plaintext"}


def dot(plans: list[Plan]) -> str:
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    out = ["digraph fsl {", "  rankdir=TB;", '  node [fontname="Helvetica"];']
    for p in plans:
        g = build(p)
        prefix = p.playbook + "_"
        out.append(f"  subgraph cluster_{p.playbook} {{")
        out.append(f'    label="playbook {esc(p.playbook)}";')
        for id_, label, shape in g.nodes:
            out.append(f'    {prefix}{id_} [label="{esc(label)}", shape={_DOT[shape]}];')
        for a, b, label, dashed in g.edges:
            attrs = [f'label="{esc(label)}"'] if label else []
            if dashed:
                attrs.append("style=dashed")
            out.append(f"    {prefix}{a} -> {prefix}{b}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"
