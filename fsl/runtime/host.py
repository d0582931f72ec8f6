"""What the outbox, its claims and delivery process, and the LLM queue use of
the runtime -- and the tick's report they count into.

`Runtime` (runtime.py) drives them and hands itself in; they see it through
`RuntimeHost`, so the dependency points one way: runtime -> outbox -> host.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from fsl.config import Config
from fsl.engine.engine import Engine
from fsl.store import Database
from fsl.templates import TemplateStore


class RuntimeHost(Protocol):
    config: Config
    db: Database
    templates: TemplateStore
    adapters: dict[str, Any]  # channel overrides by name (Runtime: {} when none)
    store: Any
    batch_size: int
    delivery: str
    llm_placeholder: bool

    def close(self) -> None: ...

    def engine(self) -> Engine: ...


@dataclass
class TickReport:
    now: str
    instants: int = 0
    events: int = 0
    checks: int = 0
    checks_in_sql: int = 0  # due checks moved on in SQL without loading the candidate
    woken: int = 0
    steps: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0  # model-written sends held for review (fsl.runtime.llm_queue): `fsl review` lists them
    recovered: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    engine_seconds: float = 0.0
    deliver_seconds: float = 0.0
    # the tick's delivery process (outbox.py, delivery_process.py), when it
    # tried one: delivered, seconds (busy), peak_mb, waited, error, taken_back
    delivery_process: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
