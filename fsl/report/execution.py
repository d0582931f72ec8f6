"""Follow-up execution: the daily discipline the seeds measure -- did each
touch go out when the playbook said, and did people do their tasks?

* A **touch** is a `send` or a `task` action.  It went out **on time** when
  the step run that made it was not deferred; otherwise it is **deferred**,
  and counted under every cause that held it (window, holiday, cap: one
  touch may be held by several), with its delay from the instant it was
  first due (the first deferral) to the instant it ran.
* A **task** is **completed** by the first `task_completed` event of its
  contact at or after its creation that matches it (the event's `task`
  field names the task kind, `step` the step, `playbook` the playbook; each
  optional); it is on time when that came by its due time, late otherwise.
  A task not completed is **overdue** once its due time is before as-of,
  else **open**.  Owner: the task's assignee (`to`, by default the
  contact's owner).

Both count what happened in the period (activity): touches by the instant
they ran, tasks by the instant they were created.
"""
from __future__ import annotations

import statistics
from datetime import datetime

from fsl.engine.model import ActionRecord

from .facts import TASK_DONE, TOUCHES, Facts, Period, StepRun
from .model import Execution, ExecutionRow, OwnerTasks, ratio

CAUSES = ("window", "holiday", "cap")


def execution_section(facts: Facts, names: list[str], period: Period) -> Execution:
    wanted = set(names)
    runs = {(r.enrollment, r.step, r.at): r for rs in facts.runs.values() for r in rs}
    touches = [a for acts in facts.actions.values() for a in acts
               if a.kind in TOUCHES and a.playbook in wanted and period.holds(a.at)]
    rows = {name: _Row(name) for name in names}
    total = _Row("all")
    for a in touches:
        run = runs.get((a.enrollment, a.step, a.at))
        rows[a.playbook].add(a, run)
        total.add(a, run)
    done = completions(facts)
    tasks = [a for a in touches if a.kind == "task"]
    owners: dict[str, OwnerTasks] = {}
    all_tasks = OwnerTasks(owner="all")
    for a in tasks:
        owner = _owner(a)
        for ot in (owners.setdefault(owner, OwnerTasks(owner=owner)), all_tasks):
            _count_task(ot, a, done.get(id(a)), facts.as_of)
    for ot in (*owners.values(), all_tasks):
        ot.completion_rate = ratio(ot.completed, ot.created)
    return Execution(total=total.done(), by_playbook=[rows[n].done() for n in names],
                     tasks=[owners[k] for k in sorted(owners)], tasks_total=all_tasks)


class _Row:
    def __init__(self, playbook: str) -> None:
        self.row = ExecutionRow(playbook=playbook, by_cause={c: 0 for c in CAUSES})
        self.delays: list[float] = []

    def add(self, a: ActionRecord, run: StepRun | None) -> None:
        r = self.row
        r.touches += 1
        if run is None or not run.deferrals:
            r.on_time += 1
            return
        r.deferred += 1
        for cause in dict.fromkeys(c for _, c in run.deferrals):
            r.by_cause[cause] = r.by_cause.get(cause, 0) + 1
        self.delays.append((a.at - run.deferrals[0][0]).total_seconds() / 3600)

    def done(self) -> ExecutionRow:
        self.row.on_time_rate = ratio(self.row.on_time, self.row.touches)
        self.row.median_delay_hours = statistics.median(self.delays) if self.delays else None
        return self.row


def completions(facts: Facts) -> dict[int, datetime]:
    """id(task record) -> when it was completed (README.md: matching rules)."""
    tasks: dict[str, list[ActionRecord]] = {}
    for acts in facts.actions.values():
        for a in acts:
            if a.kind == "task":
                tasks.setdefault(a.contact, []).append(a)
    for lst in tasks.values():
        lst.sort(key=lambda a: (a.at, a.due or a.at))
    done: dict[int, datetime] = {}
    for e in facts.events_of_type(TASK_DONE):
        kind, playbook = e.fields.get("task"), e.fields.get("playbook")
        for a in tasks.get(e.contact or "", ()):
            if id(a) in done or a.at > e.at:
                continue
            if (kind is None or a.channel == kind) and (e.step is None or a.step == e.step) \
                    and (playbook is None or a.playbook == playbook):
                done[id(a)] = e.at
                break
    return done


def _owner(a: ActionRecord) -> str:
    if a.to is None or a.to == "" or a.to == []:
        return "unassigned"
    return ", ".join(map(str, a.to)) if isinstance(a.to, list) else str(a.to)


def _count_task(ot: OwnerTasks, a: ActionRecord, done_at: datetime | None, as_of: datetime) -> None:
    ot.created += 1
    due = a.due or a.at
    if done_at is not None:
        ot.completed += 1
        if done_at <= due:
            ot.on_time += 1
        else:
            ot.late += 1
    elif due < as_of:
        ot.overdue += 1
    else:
        ot.open += 1
