"""Write-back names only the enrollment columns a batch changed, and ticks
collect garbage less often while they run (fsl/engine/gcpolicy.py)."""
from __future__ import annotations

import gc
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fsl.engine.gcpolicy import BATCH_YOUNG as YOUNG, IMPORT_OLDER, import_collections, run_collections, batch_collections
from fsl.engine.model import Event
from fsl.store.schema import enrollments

from .test_ops_support import T0, make_project, populate, runtime


def _enrollment_updates(rt, now) -> list[str]:
    """The SET lists of the UPDATE enrollments statements a tick at `now` runs."""
    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        m = re.match(r"UPDATE enrollments SET (.*) WHERE id = \?$", statement)
        if m:
            seen.append(m.group(1))

    sa.event.listen(rt.db.engine, "before_cursor_execute", capture)
    try:
        rt.tick(now, deliver=False)
    finally:
        sa.event.remove(rt.db.engine, "before_cursor_execute", capture)
    return seen


def test_a_step_updates_only_the_columns_it_changed(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    populate(config, 4)
    rt = runtime(config)
    try:
        rt.tick(T0, deliver=False)  # enrolled, step hello ran: inserts, no update
        rt.record_events([Event(T0 + timedelta(hours=1), "replied", "c0001", fields={"kind": "human"})])
        sets = _enrollment_updates(rt, T0 + timedelta(days=1))
        with rt.db.read() as conn:
            rows = {r["contact"]: r for r in conn.execute(sa.select(enrollments)).mappings()}
    finally:
        rt.close()
    # the reply ended c0001 (status, outcome, reason, ended_at, no wake-up); the
    # others only moved on: their step and their wake-up
    assert "wake_at = ?, state = ?" in sets
    assert any({"status = ?", "outcome = ?", "ended_at = ?"} <= set(s.split(", ")) for s in sets)
    assert all("plan_hash" not in s and "rank" not in s for s in sets)
    assert rows["c0001"]["status"] == "ended" and rows["c0001"]["outcome"] == "stopped"
    assert {rows[c]["status"] for c in ("c0002", "c0003", "c0004")} == {"active"}
    assert len({rows[c]["wake_at"] for c in ("c0002", "c0003", "c0004")}) == 1


def test_batch_collections_raises_the_young_threshold_and_restores_it() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with batch_collections():
            assert gc.get_threshold() == (max(before[0], YOUNG), *before[1:])
            raise RuntimeError("a tick that fails")
    assert gc.get_threshold() == before


def test_import_collections_also_raise_the_older_thresholds_and_restore_them() -> None:
    """An import's heap only grows: the middle and full collections that would walk it wait."""
    before = gc.get_threshold()
    with import_collections():
        assert gc.get_threshold() == (max(before[0], YOUNG), *(max(b, IMPORT_OLDER) for b in before[1:]))
    assert gc.get_threshold() == before


def test_a_run_leaves_what_the_host_froze_frozen() -> None:
    """gc.unfreeze() thaws everything: a run freezes only when nothing is frozen yet."""
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with run_collections():
            with run_collections():  # nested: the outer run's freeze is left alone too
                pass
            # (frozen objects that die leave the count: compare with what an unfreeze would leave)
            assert frozen // 2 < gc.get_freeze_count() <= frozen
        assert frozen // 2 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


def test_a_run_freezes_the_heap_and_thaws_it_after() -> None:
    before = gc.get_freeze_count()
    assert before == 0
    with run_collections():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_tick_runs_with_fewer_collections(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    populate(config, 2)
    rt = runtime(config)
    seen: list[tuple] = []
    original = rt._tick

    def spy(*args, **kwargs):
        seen.append(gc.get_threshold())
        return original(*args, **kwargs)

    rt._tick = spy
    try:
        rt.tick(T0, deliver=False)
    finally:
        rt.close()
    assert seen and seen[0][0] >= YOUNG and gc.get_threshold()[0] < YOUNG
