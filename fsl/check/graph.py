"""The step graph of a playbook: which step can run after which.

A step's successors are the next step in the file (when some path through
its body finishes without `goto` or `end`) and the targets of the `goto`s its
body can reach.  A repeating step without `max` never finishes, so it has no
next step.  flow.py asks this graph about loops, unreachable steps and what
can have run before a step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..syntax import nodes as n
from .walk import blocks


def body_flow(body: tuple[n.Action, ...] | None) -> tuple[bool, list[n.Goto]]:
    """(whether some path through `body` finishes normally, the `goto`s it can take)."""
    gotos: list[n.Goto] = []
    for action in body or ():
        if isinstance(action, n.Goto):
            gotos.append(action)
            return False, gotos
        if isinstance(action, n.End):
            return False, gotos
        parts = blocks(action)
        if parts:
            live = False
            for block in parts:
                falls, inner = body_flow(block)
                gotos.extend(inner)
                live = live or falls
            if not live:
                return False, gotos
    return True, gotos


@dataclass
class StepGraph:
    steps: list[n.Step]
    index: dict[str, int] = field(default_factory=dict)
    falls: list[bool] = field(default_factory=list)
    gotos: list[list[tuple[n.Goto, int]]] = field(default_factory=list)  # (goto, target index)
    succ: list[set[int]] = field(default_factory=list)

    @staticmethod
    def build(pb: n.Playbook) -> "StepGraph":
        g = StepGraph(pb.steps)
        for i, step in enumerate(g.steps):
            g.index.setdefault(step.name, i)  # a duplicate name (E202) means the first
        for i, step in enumerate(g.steps):
            falls, gotos = body_flow(step.body)
            falls = falls and not (step.every is not None and step.every.max is None)
            g.falls.append(falls)
            g.gotos.append([(go, g.index[go.step]) for go in gotos if go.step in g.index])
            succ = {t for _, t in g.gotos[i]}
            if falls and i + 1 < len(g.steps):
                succ.add(i + 1)
            g.succ.append(succ)
        return g

    def after(self, start: int) -> set[int]:
        """Steps that can run after `start` (one step or more later)."""
        seen: set[int] = set()
        todo = list(self.succ[start])
        while todo:
            i = todo.pop()
            if i not in seen:
                seen.add(i)
                todo.extend(self.succ[i])
        return seen

    def reachable(self) -> set[int]:
        """Steps an enrollment can get to (it starts at the first step)."""
        return {0} | self.after(0) if self.steps else set()

    def cycles(self, nodes: set[int]) -> list[set[int]]:
        """Strongly connected parts of the graph restricted to `nodes` that hold a cycle."""
        found: list[set[int]] = []
        for i in sorted(nodes):
            if any(i in part for part in found):
                continue
            forward = self._within(i, nodes, self.succ)
            back = self._within(i, nodes, self._preds())
            part = (forward & back) | {i}
            if len(part) > 1 or i in self.succ[i]:
                found.append(part)
        return found

    def _preds(self) -> list[set[int]]:
        preds: list[set[int]] = [set() for _ in self.steps]
        for i, succ in enumerate(self.succ):
            for j in succ:
                preds[j].add(i)
        return preds

    @staticmethod
    def _within(start: int, nodes: set[int], edges: list[set[int]]) -> set[int]:
        seen: set[int] = set()
        todo = [j for j in edges[start] if j in nodes]
        while todo:
            j = todo.pop()
            if j not in seen:
                seen.add(j)
                todo.extend(k for k in edges[j] if k in nodes)
        return seen
