"""What the rule modules (enrolling, ingest, stepping) use of the engine.

`Engine` (engine.py) drives them and hands itself in; they call back through
this protocol, so the dependency points one way: engine -> rules -> host,
never rules -> engine.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from .evaluate import Ctx
from .memstore import Store
from .model import Contact, Deal, Enrollment, Event
from .program import Cap, Program


class EngineHost(Protocol):
    config: Any
    store: Store
    by_hash: dict[str, Program]
    programs: dict[str, Program]
    ordered: list[Program]
    global_caps: list[Cap]
    services: Any
    now: datetime | None
    checks_done: bool
    started: bool

    def cancel_outbox(self, en: Enrollment, reason: str) -> None: ...

    def program(self, en: Enrollment) -> Program: ...

    def order(self, en: Enrollment) -> tuple: ...

    def schedule(self, en: Enrollment, at: datetime | None) -> None: ...

    def ctx(self, en: Enrollment, now: datetime, event: Event | None = None) -> Ctx: ...

    def candidate_ctx(self, prog: Program, contact: Contact, deal: Deal | None, now: datetime,
                      event: Event | None = None) -> Ctx: ...

    def touched(self, contact_id: str) -> None: ...

    def end(self, en: Enrollment, outcome: str, at: datetime, reason: str, line: int = 0,
            step: str | None = None) -> None: ...

    def fail(self, en: Enrollment, at: datetime, exc: Exception) -> None: ...

    def pause(self, en: Enrollment, until: datetime, at: datetime, reason: str, line: int) -> None: ...

    def note(self, at: datetime, kind: str, reason: str, en: Enrollment | None = None, *,
             contact: str | None = None, playbook: str | None = None, step: str | None = None,
             line: int = 0) -> None: ...

    def warn(self, at: datetime, message: str, line: int | None = None, contact: str | None = None,
             en: Enrollment | None = None, step: str | None = None) -> None: ...
