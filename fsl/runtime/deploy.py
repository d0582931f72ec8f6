"""`fsl deploy`: compile playbooks, register their plans by hash, migrate on request.

* A plan is registered under its content hash; deploying the same source
  again changes nothing.  The deployed plan becomes the playbook's current
  one: new enrollments start on it.
* Running enrollments stay on the plan they started with (RUNTIME.md 2).
  With `--migrate` they move to the current plan *by step name*: the step
  they are at (or waiting in) keeps its name in the new plan.  An
  enrollment whose step no longer exists, or which is waiting in the middle
  of a step whose body changed (its place inside the step would be
  meaningless), stays where it was and is reported.  A moved enrollment
  keeps its next due time; the new plan's timings apply from the step after.
* A new playbook with `enroll when` (or a changed `enroll when`) gets its
  first checks scheduled for every contact, a batch per transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

from fsl.api import compile_project
from fsl.compiler.hashing import strip_positions
from fsl.project import Project
from fsl.engine.enrolling import start_checks
from fsl.engine.model import JournalEntry
from fsl.engine.timing import minute_floor
from fsl.store import plans as registry
from fsl.store import rows as R
from fsl.store.codec import epoch
from fsl.store.schema import contacts, enrollments, journal
from fsl.store.segment_checks import first_check_filter, first_checks

from .runtime import Runtime, utcnow


class DeployError(Exception):
    """The playbooks do not compile; `text` holds the diagnostics."""

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message)
        self.text = text


@dataclass
class DeployReport:
    playbooks: list[dict[str, Any]] = field(default_factory=list)  # name, hash, previous, status
    migrated: dict[str, int] = field(default_factory=dict)
    unmovable: list[dict[str, Any]] = field(default_factory=list)
    checks: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"playbooks": self.playbooks, "migrated": self.migrated, "unmovable": self.unmovable,
                "checks_scheduled": self.checks}


def deploy(runtime: Runtime, paths: list[Path], *, migrate: bool = False, now: datetime | None = None,
           progress: Callable[[str, int], None] | None = None) -> DeployReport:
    project = Project(runtime.config, runtime.templates)
    result = compile_project(list(paths), project)
    if not result.ok:
        from fsl.diagnostics.emit import emit

        text = emit("text", result.check.errors, result.check.sources, result.check.files)
        raise DeployError(f"{len(result.check.errors)} error(s): nothing deployed", text)
    if not result.plans:
        raise DeployError("no playbook found to deploy")
    at = epoch(now or utcnow())
    report = DeployReport()
    changed: list[str] = []
    with runtime.db.write() as conn:
        current = registry.current_hashes(conn)
        for plan in result.plans:
            shown = plan.source.file if plan.source else None
            file = _relative(shown, runtime.config.root)
            registry.register(conn, plan, file, result.check.sources.get(shown or ""), at)
            previous = current.get(plan.playbook)
            status = "unchanged" if previous == plan.hash else ("updated" if previous else "new")
            if status != "unchanged":
                registry.set_current(conn, plan, at)
                changed.append(plan.playbook)
            report.playbooks.append({"playbook": plan.playbook, "hash": plan.hash, "previous": previous,
                                     "status": status, "file": file})
    engine = runtime.engine()
    clock = runtime.clock() or minute_floor(now or utcnow())
    engine.resume(clock)
    fresh = [engine.programs[name] for name in changed
             if engine.programs[name].enroll_when is not None and _when_changed(runtime, engine, name)]
    if fresh:
        report.checks = _schedule_checks(runtime, engine, fresh, clock)
    if migrate:
        for plan in result.plans:
            moved, stuck = _migrate(runtime, engine, plan.playbook, plan.hash, clock)
            report.migrated[plan.playbook] = moved
            report.unmovable.extend(stuck)
            if progress is not None:
                progress("migrated", moved)
    return report


def _relative(file: str | None, root: Path) -> str | None:
    """A playbook's path relative to the project folder (stable whatever the cwd)."""
    if file is None:
        return None
    try:
        return Path(file).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return file


def _when_changed(runtime: Runtime, engine, name: str) -> bool:
    """True unless an earlier plan of the playbook had the very same `enroll when`."""
    prog = engine.programs[name]
    new = strip_positions(prog.plan.enroll_when.model_dump(mode="json"))
    for other in engine.by_hash.values():
        if other.name == name and other is not prog and other.plan.enroll_when is not None:
            if strip_positions(other.plan.enroll_when.model_dump(mode="json")) == new:
                return False
    return True


def _schedule_checks(runtime: Runtime, engine, programs: list, at: datetime) -> int:
    """The first check of every candidate, contact by contact, a batch per transaction.

    A data-driven segment (looked at again only when data changes) gets a
    first check only for the contacts its SQL pre-filter admits: for the
    others the check would be false and leave nothing behind.  Where the
    playbook's shape allows, the rows are written by INSERT ... SELECT
    without loading a contact (store/segment_checks.py)."""
    dense, n = [], 0
    for prog in programs:
        if not runtime.store.segment_sql:
            dense.append(prog)
            continue
        done = first_checks(runtime.db, prog, at, runtime.db.dialect)  # set-based, no contact loaded
        if done is not None:
            n += done
            continue
        only = first_check_filter(prog, runtime.db.dialect, at)
        n += _first_checks(runtime, engine, [prog], at, sa.true() if only is None else only)
    if dense:
        n += _first_checks(runtime, engine, dense, at, sa.true())
    if n:
        # Statistics, so that the database walks due checks by the due index rather than
        # by playbook (the primary key's first column, which matches every row).
        with runtime.db.write() as conn:
            if runtime.db.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA analysis_limit=1000")  # sampled: a million rows in milliseconds
            conn.exec_driver_sql("ANALYZE checks")
    return n


def _first_checks(runtime: Runtime, engine, programs: list, at: datetime, only) -> int:
    store, last, n = runtime.store, "", 0
    while True:
        with runtime.db.read() as conn:
            ids = list(conn.execute(sa.select(contacts.c.id).where(contacts.c.id > last, only)
                                    .order_by(contacts.c.id).limit(runtime.batch_size)).scalars())
        if not ids:
            return n
        with store.transaction():
            store.prefetch_entities(ids, [])
            start_checks(engine, at, programs, ids)
        n += len(ids)
        last = ids[-1]


def _step_shape(prog, index: int) -> Any:
    return strip_positions(prog.plan.steps[index].model_dump(mode="json"))


def _migrate(runtime: Runtime, engine, name: str, new_hash: str, at: datetime) -> tuple[int, list[dict]]:
    """Move the playbook's open enrollments on older plans to `new_hash` by step name."""
    new = engine.by_hash[new_hash]
    moved, last = 0, 0
    stuck: list[dict] = []
    e = enrollments.c
    while True:
        with runtime.db.write() as conn:
            rows = list(conn.execute(sa.select(enrollments).where(
                e.playbook == name, e.plan_hash != new_hash, e.status != "ended", e.id > last)
                .order_by(e.id).limit(runtime.batch_size)).mappings())
            if not rows:
                return moved, stuck
            updates, notes = [], []
            for row in rows:
                en = R.enrollment_from(row)
                last = en.id
                old = engine.by_hash.get(en.plan_hash)
                why, target = _target(old, new, en)
                if target is None:
                    stuck.append({"enrollment": en.id, "contact": en.contact, "playbook": name,
                                  "plan": en.plan_hash, "step": _step_name(old, en), "reason": why})
                    continue
                note = f"migrated to plan {new_hash[:19]} at step {new.steps[target].name} (deploy --migrate)"
                en.plan_hash, en.step = new_hash, target
                updates.append({"b_id": en.id, "plan_hash": new_hash, "rank": -new.priority,
                                "state": R.enrollment_state(en)})
                notes.append(R.journal_row(JournalEntry(at, "migrated", note, en.id, en.contact, name,
                                                        new.steps[target].name, 0)))
            if updates:
                conn.execute(enrollments.update().where(e.id == sa.bindparam("b_id")), updates)
                conn.execute(journal.insert(), notes)
                moved += len(updates)


def _step_name(prog, en) -> str | None:
    if prog is None or en.step >= len(prog.steps):
        return None
    return prog.steps[en.step].name


def _target(old, new, en) -> tuple[str, int | None]:
    """The step index in the new plan, or (why not, None)."""
    name = _step_name(old, en)
    if name is None:
        return "its plan is not registered (or its step index is out of range)", None
    index = new.step_index.get(name)
    if index is None:
        return f"step {name} no longer exists in the new plan", None
    inside = en.resume is not None or en.wait_event is not None
    if inside and _step_shape(old, en.step) != _step_shape(new, index):
        return f"waiting inside step {name}, whose body changed", None
    return "", index

