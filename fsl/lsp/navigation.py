"""Go to definition, find references, rename.

Steps and `let`s are defined in the playbook; templates in their file; fields,
events and channels on their line of fsl.yaml.  References are looked up in
the document (steps and lets within their playbook).  Rename covers steps
and lets, refusing a name that is not a name, is a keyword, or is taken.
"""
from __future__ import annotations

import re

from lsprotocol import types as t

from ..config import key_position
from ..syntax.scanner import RESERVED
from . import index
from .analysis import Analysis
from .convert import path_to_uri, to_range

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_LOCAL = ("step", "let")


class RenameRefused(ValueError):
    """The new name cannot be used; the message says why."""


def definition(a: Analysis, line: int, character: int) -> list[t.Location]:
    occ = index.at(a.module, line + 1, character + 1)
    if occ is None:
        return []
    if occ.kind in _LOCAL:
        return [t.Location(uri=path_to_uri(a.path), range=to_range(o.span))
                for o in _same(a, occ) if o.is_definition]
    if occ.kind == "template":
        store = a.project.templates
        files = store.candidates(occ.name) if store else ()
        return [t.Location(uri=path_to_uri(f), range=_top()) for f in files]
    config = a.project.config
    if config is None:
        return []
    keys = _yaml_keys(occ)
    if keys is None:
        return []
    pos = key_position(config.path, keys)
    if pos is None:
        return []
    start = t.Position(line=pos[0], character=pos[1])
    end = t.Position(line=pos[0], character=pos[1] + len(keys[-1]))
    return [t.Location(uri=path_to_uri(config.path), range=t.Range(start=start, end=end))]


def _top() -> t.Range:
    return t.Range(start=t.Position(line=0, character=0), end=t.Position(line=0, character=0))


def _yaml_keys(occ: index.Occurrence) -> list[str] | None:
    if occ.kind == "event":
        return ["events", occ.name]
    if occ.kind == "channel":
        return ["channels", occ.name]
    if occ.kind == "field":
        parts = occ.name.split(".")
        if parts[0] in ("contact", "deal", "stakeholder") and len(parts) == 2:
            return ["schema", parts[0], parts[1]]
        if parts[0] == "event" and occ.event and len(parts) == 2:
            return ["events", occ.event, parts[1]]
    return None


def _same(a: Analysis, occ: index.Occurrence) -> list[index.Occurrence]:
    """Every occurrence of the same thing: in its playbook for steps and lets, else in the document."""
    out = []
    for o in index.occurrences(a.module):
        if o.kind != occ.kind or o.name != occ.name:
            continue
        if occ.kind in _LOCAL and o.playbook is not occ.playbook:
            continue
        out.append(o)
    return out


def references(a: Analysis, line: int, character: int, include_declaration: bool) -> list[t.Location]:
    occ = index.at(a.module, line + 1, character + 1)
    if occ is None:
        return []
    uri = path_to_uri(a.path)
    return [t.Location(uri=uri, range=to_range(o.span)) for o in _same(a, occ)
            if include_declaration or not o.is_definition]


def prepare_rename(a: Analysis, line: int, character: int) -> t.Range | None:
    occ = index.at(a.module, line + 1, character + 1)
    if occ is None or occ.kind not in _LOCAL:
        return None
    return to_range(occ.span)


def rename(a: Analysis, line: int, character: int, new_name: str) -> t.WorkspaceEdit | None:
    occ = index.at(a.module, line + 1, character + 1)
    if occ is None or occ.kind not in _LOCAL:
        return None
    if not _NAME.match(new_name):
        raise RenameRefused(f"`{new_name}` is not a name: lower case letters, digits and _, not starting with a digit")
    if new_name in RESERVED:
        raise RenameRefused(f"`{new_name}` is a keyword")
    taken = {o.name for o in index.occurrences(a.module)
             if o.kind == occ.kind and o.is_definition and o.playbook is occ.playbook}
    if new_name in taken and new_name != occ.name:
        raise RenameRefused(f"playbook {occ.playbook.name} already has a {occ.kind} named {new_name}")
    edits = [t.TextEdit(range=to_range(o.span), new_text=new_name) for o in _same(a, occ)]
    return t.WorkspaceEdit(changes={path_to_uri(a.path): edits})
