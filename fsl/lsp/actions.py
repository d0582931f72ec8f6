"""Code actions: the checker's did-you-mean fixes, one quick fix each.

A diagnostic whose help reads `did you mean X?` (fields, events, templates,
link tags, steps, functions, ...) is underlined exactly at the misspelt
name, so the fix replaces that range with X.
"""
from __future__ import annotations

import re

from lsprotocol import types as t

_DID_YOU_MEAN = re.compile(r"did you mean (\"?[^\s?\"]+\"?)\?")


def quick_fixes(uri: str, diagnostics: list[t.Diagnostic]) -> list[t.CodeAction]:
    out = []
    for d in diagnostics:
        if d.source != "fsl":
            continue
        help_ = (d.data or {}).get("help") if isinstance(d.data, dict) else None
        m = _DID_YOU_MEAN.search(help_ or d.message)
        if not m:
            continue
        new, rng = m.group(1), d.range
        if new.endswith("()"):  # E212 underlines the whole call: replace the function's name only
            old = re.search(r"unknown function ([a-z_][a-z0-9_]*)\(\)", d.message)
            if not old:
                continue
            new = new[:-2]
            start = rng.start
            rng = t.Range(start=start, end=t.Position(line=start.line, character=start.character + len(old.group(1))))
        out.append(t.CodeAction(
            title=f"Change to {new}", kind=t.CodeActionKind.QuickFix, diagnostics=[d], is_preferred=True,
            edit=t.WorkspaceEdit(changes={uri: [t.TextEdit(range=rng, new_text=new)]})))
    return out
