"""The project a document belongs to, loaded once and reloaded when its files change.

A project is the nearest fsl.yaml above the document (as `fsl check` finds
it) with its templates folder.  Its signature is the modification times of
fsl.yaml and of the template files, read at every analysis (a few `stat`
calls): an edit saved to either is seen by the next keystroke's diagnostics.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import find_config
from ..project import Project


@dataclass
class _Entry:
    signature: tuple
    project: Project


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


class Projects:
    def __init__(self) -> None:
        self._by_config: dict[Path | None, _Entry] = {}

    def for_file(self, path: str) -> Project:
        config = find_config(Path(path).parent)
        entry = self._by_config.get(config)
        signature = self._signature(config, entry.project if entry else None)
        if entry is None or entry.signature != signature:
            project = Project.load(config, Path(path)) if config else Project(None, None)
            entry = _Entry(self._signature(config, project), project)
            self._by_config[config] = entry
        return entry.project

    @staticmethod
    def _signature(config: Path | None, project: Project | None) -> tuple:
        if config is None:
            return ()
        folder = project.config.templates if project and project.config else None
        files: tuple = ()
        if folder is not None:
            try:
                files = tuple(sorted((p.name, _mtime(p)) for p in Path(folder).iterdir()))
            except OSError:
                files = ()
        return (_mtime(config), str(folder), files)
