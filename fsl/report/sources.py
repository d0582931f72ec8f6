"""Where a report's data comes from: a scenario run on the simulator, or the
project's production store.

Either way the report gets a `Store`, the plans (for step order, `let`
segments and which playbooks win back), the project config and `as_of`,
the instant the data runs up to.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc


class SourceError(Exception):
    """The data cannot be opened; str() says why and what to do instead."""


@dataclass
class Source:
    store: Any  # a fsl.runtime.store.Store
    as_of: datetime
    label: str
    plans: list = field(default_factory=list)
    config: Any = None


def from_scenario(path: Path) -> Source:
    """Run a scenario on the virtual clock; its data runs up to `until`."""
    from fsl.runtime.scenario import ScenarioError, load_scenario
    from fsl.runtime.simulate import simulate

    try:
        scn = load_scenario(path)
    except ScenarioError as exc:
        raise SourceError(str(exc)) from None
    sim = simulate(scn)
    return Source(sim.store, scn.until, f"scenario {path}", list(scn.plans), scn.config)


def from_project(config_path: str | None) -> Source:
    """The production store named by the project file (CONFIG.md `store`).

    The SQL store lives in fsl/store/; until it exists this is a clear
    error pointing at `--scenario`.  Plans come from the store when it keeps
    the deployed ones (`plans()`), else from compiling the project's
    `sequences` folder.
    """
    from fsl.project import Project

    project = Project.load(config_path)
    config = project.config
    if config is None:
        raise SourceError("no fsl.yaml found (give --config PATH), or report on a scenario with --scenario FILE")
    store = _open_store(config)
    plans = list(store.plans()) if callable(getattr(store, "plans", None)) else _compile(project)
    return Source(store, datetime.now(UTC).replace(second=0, microsecond=0),
                  f"store {getattr(config, 'store', '') or ''}".strip(), plans, config)


def _open_store(config: Any) -> Any:
    try:
        module = importlib.import_module("fsl.store")
    except ImportError:
        raise SourceError("the production store is not available yet (fsl/store/ is not built); "
                          "report on a simulation with --scenario SCENARIO.yaml") from None
    for name in ("open_store", "open", "connect"):
        opener = getattr(module, name, None)
        if callable(opener):
            try:
                return opener(config)
            except Exception as exc:  # a URL that does not connect, a missing schema...
                raise SourceError(f"cannot open the store {getattr(config, 'store', '')!r}: {exc}") from None
    raise SourceError("fsl.store offers no way to open the store from the config (open_store(config)); "
                      "report on a simulation with --scenario SCENARIO.yaml")


def _compile(project: Any) -> list:
    from fsl.api import compile_project

    result = compile_project([], project)
    return list(result.plans) if result.ok else []
