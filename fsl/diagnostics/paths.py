"""File names in diagnostics relative to the repository root, for CI annotations.

GitHub resolves an annotation's `file=` and a SARIF result's URI against the
repository root, not the folder a workflow step runs in; a path relative to the
current folder (`fsl check` run from `sequences/`) would land on no file.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from .core import Diagnostic


def git_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding `.git` (a folder, or a file in worktrees)."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return None


def relative_to_root(file: str, root: Path, cwd: Path) -> str:
    """`file` (relative to `cwd`, or absolute) as a POSIX path under `root`; unchanged when outside it."""
    try:
        return (cwd / file).resolve().relative_to(root).as_posix()
    except (ValueError, OSError):  # outside the repository, or unresolvable: keep what the user named
        return file


def rebase_on_root(diags: Iterable[Diagnostic], root: Path, cwd: Path) -> list[Diagnostic]:
    """Each diagnostic with its file named relative to `root`."""
    return [
        dataclasses.replace(d, span=dataclasses.replace(d.span, file=relative_to_root(d.span.file, root, cwd)))
        for d in diags
    ]
