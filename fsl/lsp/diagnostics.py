"""FSL diagnostics as LSP diagnostics: the same code, range, message and help."""
from __future__ import annotations

from lsprotocol import types as t

from ..diagnostics import Diagnostic
from .convert import to_range


def to_lsp(d: Diagnostic) -> t.Diagnostic:
    message = d.message if not d.help else f"{d.message}\nhelp: {d.help}"
    return t.Diagnostic(
        range=to_range(d.span),
        message=message,
        severity=t.DiagnosticSeverity.Error if d.is_error else t.DiagnosticSeverity.Warning,
        code=d.code,
        source="fsl",
        # the help alone, for the code actions (actions.py)
        data={"help": d.help} if d.help else None,
    )
