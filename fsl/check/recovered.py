"""What the checker does not say about a playbook read with its bad lines left out.

Recovery (fsl/syntax/recovery.py) lets the checker see the rest of a
playbook with a syntax error, so a misspelt field further down is reported
at once.  But the lines left out may have held what the checker would
otherwise miss: a `stop on unsubscribed`, a `window`, a step's delay, a
step or `let` name.  A problem that is only the echo of a left-out line
would mislead, so in a recovered playbook:

- the rules about something absent (E301, E302, E303, E304) and every
  warning are not reported: they judge the playbook as a whole;
- a problem naming a step or `let` defined on a left-out line is not
  reported: the syntax error already points there.

Everything else (unknown fields, events, templates, channels, types, enum
values, settings' values) is about text that was read, and is reported.
"""
from __future__ import annotations

import re

from ..diagnostics import Diagnostic
from ..syntax import nodes as n

_WHOLE_PLAYBOOK = frozenset({"E301", "E302", "E303", "E304"})


def drop_echoes(modules: list[n.Module], diags: list[Diagnostic]) -> list[Diagnostic]:
    regions = [(m.file, r) for m in modules for r in m.recovered]
    if not regions:
        return diags
    return [d for d in diags if not any(_echo(d, r) for file, r in regions if file == d.span.file)]


def _echo(d: Diagnostic, r: n.Recovered) -> bool:
    if not r.first_line <= d.span.line <= r.last_line:
        return False
    if d.code in _WHOLE_PLAYBOOK or not d.is_error:
        return True
    return any(re.search(rf"\b{re.escape(name)}\b", d.message) for name in r.hidden_names)
