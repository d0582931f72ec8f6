"""Machine-readable diagnostics for `fsl check --format json` (CLI.md).

The shape is part of the CLI contract, so it is produced from
`Diagnostic.to_json()` alone and sorted, so that the same input gives the same
bytes whatever order the checker found the problems in.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from .core import Diagnostic


def render_json(diags: Iterable[Diagnostic], files: int) -> str:
    """`{"files": N, "diagnostics": [...]}`, sorted by (file, line, column, code), indent 2."""
    ordered = sorted(diags, key=Diagnostic.sort_key)
    doc = {"files": files, "diagnostics": [d.to_json() for d in ordered]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
