from __future__ import annotations

from dataclasses import dataclass, field

from ...config import Config
from ...syntax import nodes as n


@dataclass
class PassContext:
    playbook: n.Playbook
    config: Config | None
    out: dict[str, object] = field(default_factory=dict)  # the Plan model's fields, as JSON

    @property
    def lets(self) -> frozenset[str]:
        return frozenset(l.name for l in self.playbook.of(n.Let))
