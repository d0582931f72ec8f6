"""What every check pass can see: the modules, the project config and templates."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..config import Config
from ..diagnostics import Diagnostic
from ..syntax import nodes as n
from ..syntax.defaults import inherit
from ..templates import TemplateStore


@dataclass
class CheckContext:
    modules: list[n.Module]
    config: Config | None  # None: only syntax-level checks are possible
    templates: TemplateStore | None
    diags: list[Diagnostic] = field(default_factory=list)

    def report(self, diag: Diagnostic) -> None:
        self.diags.append(diag)

    def playbooks(self) -> Iterator[tuple[n.Module, n.Playbook]]:
        """(module, playbook) for every playbook read -- cleanly, or recovered
        with its bad lines left out -- with what it inherits from fsl.yaml's
        `defaults`; then the defaults themselves, checked like a playbook even
        where every playbook overrides them.  A problem in an inherited line is
        found once per playbook, at the same place in fsl.yaml, and reported
        once (api.py removes the repeats)."""
        defaults = self.config.defaults.playbook if self.config is not None and self.config.defaults else None
        for m in self.modules:
            again = {r.name for r in m.recovered}
            for pb in m.playbooks:
                if pb.name not in m.broken or pb.name in again:
                    yield m, inherit(pb, defaults)
        if defaults is not None and self.config is not None:
            yield n.Module(str(self.config.path), (defaults,)), defaults
