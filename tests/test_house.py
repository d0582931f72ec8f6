"""The house rules a refactor can break without any behaviour changing."""
from __future__ import annotations

import hashlib
import subprocess
from collections import defaultdict

from .conftest import ROOT


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_no_tracked_file_is_a_copy_of_another() -> None:
    """One copy of everything: a second copy drifts (sequences/ once had a twin in the package)."""
    by_digest: dict[str, list[str]] = defaultdict(list)
    for name in _tracked():
        path = ROOT / name
        if path.is_file() and path.stat().st_size > 200:
            by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append(name)
    copies = [names for names in by_digest.values() if len(names) > 1]
    assert not copies, f"files with the same content: {copies}"
