"""The outline of a document: its playbooks, each with its lets and steps."""
from __future__ import annotations

from lsprotocol import types as t

from ..syntax import nodes as n
from .convert import to_range


def document_symbols(module: n.Module) -> list[t.DocumentSymbol]:
    out = []
    for pb in module.playbooks:
        children = []
        for item in pb.items:
            if isinstance(item, n.Step):
                children.append(t.DocumentSymbol(
                    name=item.name, kind=t.SymbolKind.Function, detail="step",
                    range=to_range(item.span), selection_range=to_range(item.name_span)))
            elif isinstance(item, n.Let):
                children.append(t.DocumentSymbol(
                    name=item.name, kind=t.SymbolKind.Variable, detail="let",
                    range=to_range(item.span), selection_range=to_range(item.name_span)))
        name_span = pb.name_span or pb.span
        out.append(t.DocumentSymbol(
            name=pb.name, kind=t.SymbolKind.Module, detail="playbook",
            range=to_range(pb.span), selection_range=to_range(name_span), children=children))
    return out
