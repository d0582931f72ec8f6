"""Hover: what a name under the cursor is.

Fields show their type, enum values and whether they may be none; templates
their subject, renderer, guards and links; steps their timing and what they
send; lets their expression; events their fields; functions and keywords a
line of the language reference (words.py).
"""
from __future__ import annotations

import re

from lsprotocol import types as t

from ..check.walk import actions, sends, show
from ..config import Config, FieldType
from ..durations import Duration
from ..syntax import nodes as n
from . import index
from .analysis import Analysis
from .convert import to_range
from .words import FUNCTIONS, KEYWORDS

_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def hover(a: Analysis, line: int, character: int) -> t.Hover | None:
    occ = index.at(a.module, line + 1, character + 1)
    if occ is not None:
        text = _describe(a, occ)
        if text:
            return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=text), range=to_range(occ.span))
    word = _word_at(a.lines, line, character)
    if word in KEYWORDS and not _in_string(a.lines[line][:character]):
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=KEYWORDS[word]))
    return None


def _word_at(lines: list[str], line: int, character: int) -> str | None:
    if line >= len(lines):
        return None
    for m in _WORD.finditer(lines[line]):
        if m.start() <= character <= m.end():
            return m.group(0)
    return None


def _in_string(prefix: str) -> bool:
    return prefix.count('"') % 2 == 1


def _describe(a: Analysis, occ: index.Occurrence) -> str | None:
    config = a.project.config
    if occ.kind == "field":
        return _field(config, occ.name, occ.event)
    if occ.kind == "template":
        return _template(a, occ.name)
    if occ.kind == "step":
        step = next((s for s in occ.playbook.steps if s.name == occ.name), None)
        return _step(step) if step else None
    if occ.kind == "let":
        let = next((x for x in occ.playbook.of(n.Let) if x.name == occ.name), None)
        return f"```fsl\nlet {let.name} = {show(let.value)}\n```" if let else None
    if occ.kind == "event":
        fields = config.event_fields(occ.name) if config else None
        if fields is None:
            return f"event `{occ.name}`" + (" (not known to fsl.yaml)" if config else "")
        body = "\n".join(f"- `{k}`: {v}" for k, v in fields.items()) or "no fields"
        return f"event `{occ.name}`\n\n{body}"
    if occ.kind == "channel":
        ch = config.channels.get(occ.name) if config else None
        return f"channel `{occ.name}`" + (f" (adapter `{ch.adapter}`)" if ch else "")
    if occ.kind == "function":
        return FUNCTIONS.get(occ.name)
    return None


def _field(config: Config | None, dotted: str, event: str | None) -> str | None:
    root, _, rest = dotted.partition(".")
    ft: FieldType | None = None
    if config is not None and root in ("contact", "deal", "stakeholder"):
        ft = config.field_type(root, rest)
    elif config is not None and root == "event" and event:
        ft = (config.event_fields(event) or {}).get(rest)
    if ft is None:
        return f"`{dotted}`" + (" (not declared in fsl.yaml)" if config and root != "vars" else "")
    out = f"`{dotted}`: **{ft.kind}**"
    if ft.members:
        out += "\n\nvalues: " + ", ".join(f'"{m}"' for m in ft.members)
    out += "\n\nmay be none" if ft.optional else "\n\nalways set"
    return out


def _template(a: Analysis, name: str) -> str | None:
    store = a.project.templates
    if store is None:
        return None
    try:
        tpl = store.lookup(name)
    except Exception as e:  # noqa: BLE001 - a missing or broken template: say why, as the checker does
        return f'template "{name}": {e}'
    parts = [f'template **{name}** (`{tpl.path.name}`)', f"renderer: `{tpl.renderer}`"]
    if tpl.subject is not None:
        parts.append(f"subject: {tpl.subject}")
    guards = []
    if tpl.max_words:
        guards.append(f"at most {tpl.max_words} words")
    if tpl.avoid:
        guards.append("avoid " + ", ".join(f'"{w}"' for w in tpl.avoid))
    if guards:
        parts.append("guards: " + "; ".join(guards))
    if tpl.links:
        parts.append("links: " + ", ".join(f"`{k}`" for k in sorted(tpl.links)))
    return "\n\n".join(parts)


def _step(step: n.Step) -> str:
    timing = _timing(step)
    out = [f"step **{step.name}** -- {timing}"]
    sent = [f'`send {s.channel} "{s.template}"`' for s in sends(step)]
    out.append("sends: " + (", ".join(sent) if sent else "nothing"))
    gotos = sorted({x.step for x in actions(step.body) if isinstance(x, n.Goto)})
    if gotos:
        out.append("goes to: " + ", ".join(gotos))
    return "\n\n".join(out)


def _timing(step: n.Step) -> str:
    tm = step.timing
    text = "due right after the previous step"
    if isinstance(tm, n.After):
        text = f"due {_duration(tm.duration)} after the previous step"
    elif isinstance(tm, n.AtDay):
        at = f" at {tm.minute // 60:02d}:{tm.minute % 60:02d}" if tm.minute is not None else ""
        text = f"due on day {tm.day}{at}"
    elif isinstance(tm, n.AtCron):
        text = f'due at cron "{tm.expr}"'
    if step.every is not None:
        text += f", then every {_duration(step.every.duration)}"
        text += f" (at most {step.every.max} times)" if step.every.max else " (no max)"
    return text


def _duration(d: Duration) -> str:
    return str(d)
