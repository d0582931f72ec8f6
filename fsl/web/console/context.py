"""What a console page gets (routes.py builds it, pages.py reads it)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fsl.store import sight
from fsl.store.users import User


@dataclass
class Ctx:
    """What a page gets: the viewer, their sight, the request's inputs."""

    user: User
    scope: sight.Scope
    runtime: Any
    now: datetime
    params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str] = field(default_factory=dict)
    method: str = "GET"
    as_json: bool = False
