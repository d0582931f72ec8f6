"""Where a report's data comes from: a scenario run on the simulator, or the
project's production store.

Either way the report gets a `Store`, the plans (for step order, `let`
segments and which playbooks win back), the project config and `as_of`,
the instant the data runs up to.
"""
from __future__ import annotations

import importlib
import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

UTC = timezone.utc


class SourceError(Exception):
    """The data cannot be opened; str() says why and what to do instead."""


@dataclass
class Source:
    store: Any  # a fsl.engine.memstore.Store
    as_of: datetime
    label: str
    plans: list = field(default_factory=list)
    config: Any = None
    # the report is built inside this (a read snapshot of the SQL store)
    reading: Callable[[], AbstractContextManager] = nullcontext
    close: Callable[[], None] = lambda: None


def from_scenario(path: Path) -> Source:
    """Run a scenario on the virtual clock; its data runs up to `until`."""
    from fsl.simulator.scenario import ScenarioError, load_scenario
    from fsl.simulator.simulate import simulate

    try:
        scn = load_scenario(path)
    except ScenarioError as exc:
        raise SourceError(str(exc)) from None
    sim = simulate(scn)
    return Source(sim.store, scn.until, f"scenario {path}", list(scn.plans), scn.config)


def from_project(config_path: str | None, store_url: str | None = None) -> Source:
    """The production store named by the project file (CONFIG.md `store`;
    `FSL_STORE` overrides it, as for the runtime commands), read in one
    snapshot.  Plans are the store's registered ones (every version, the
    current one last); `as_of` is the store's clock (the instant the last
    tick processed), else now.
    """
    from fsl.project import Project

    project = Project.load(config_path)
    config = project.config
    if config is None:
        raise SourceError("no fsl.yaml found (give --config PATH), or report on a scenario with --scenario FILE")
    url = store_url or os.environ.get("FSL_STORE") or getattr(config, "store", None)
    if not url:
        raise SourceError("the project file names no `store`")
    try:
        fsl_store = importlib.import_module("fsl.store")
    except ImportError:
        raise SourceError("the production store is not available yet (fsl/store/ is not built); "
                          "report on a simulation with --scenario SCENARIO.yaml") from None
    try:
        db = fsl_store.open_store(url, create=False)
    except Exception as exc:  # noqa: BLE001 - StoreError: bad URL, unreachable, no schema yet
        raise SourceError(fsl_store.redact(str(exc), url)) from None
    return sql_source(db, config, f"store {fsl_store.safe_url(url)}")


def sql_source(db: Any, config: Any, label: str) -> Source:
    """A `Source` over an open `fsl.store.Database`."""
    from fsl.store import SqlStore
    from fsl.store import plans as registry

    store = SqlStore(db)
    with db.read() as conn:
        plans = [r.plan for r in registry.load_all(conn)]
        clock = registry.get_meta(conn, "clock")
    if clock:
        from fsl.store.codec import instant

        as_of = instant(int(clock))
    else:
        as_of = datetime.now(UTC).replace(second=0, microsecond=0)
    return Source(store, as_of, label, plans, config, reading=store.snapshot, close=db.dispose)


