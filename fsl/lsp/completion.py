"""Completion: what may be written at the cursor, by the line's context.

The contexts, tried in order on the text of the line before the cursor:
a template name in `send CHANNEL "`, a link tag in `clicked(STEP, "`, a
time-zone name in a `timezone` string, a country code in `skip holidays "`,
a field after `contact.`, `deal.`, `stakeholder.`, `event.`, an enum value
after `==`, `!=` or `in` with an enum field on the left, an event after
`on`, `for` (in `wait up to ... for`), `count(` or `last(`, a step after
`goto` or in `opened(`, `clicked(`, ..., a channel after `send` or `cap`;
otherwise the keywords the grammar accepts there (grammar_words.py).
"""
from __future__ import annotations

import re
from functools import lru_cache

from lsprotocol import types as t

from ..check.walk import ENGAGEMENT, FUNCTIONS, sends
from ..config import Config, FieldType
from ..syntax import nodes as n
from .analysis import Analysis
from .grammar_words import accepted_keywords, stand_in
from .index import playbook_at

K = t.CompletionItemKind

_TEMPLATE = re.compile(r'\bsend\s+[a-z_][a-z0-9_]*\s+"([^"]*)$')
_LINK = re.compile(r'\bclicked\(\s*([a-z_][a-z0-9_]*)\s*,\s*"([^"]*)$')
_ZONE = re.compile(r'\btimezone\b.*"([^"]*)$')
_HOLIDAYS = re.compile(r'\bskip\s+holidays\s+"([^"]*)$')
_FIELD = re.compile(r'\b(contact|deal|stakeholder|event)\.([a-z0-9_]*)$')
_ENUM = re.compile(r'\b((?:contact|deal|stakeholder|event)\.[a-z_][a-z0-9_]*)\s*(?:==|!=|\bin\b|\bnot\s+in\b)\s*'
                   r'(?:\[(?:[^\]]*,\s*)?)?"?([a-z0-9_ -]*)$')
_EVENT = re.compile(r'(?:\b(?:enroll|stop|pause)\s+on|\bwait\s+up\s+to\b.*\bfor|\b(?:count|last)\()\s*([a-z0-9_]*)$')
_STEP = re.compile(r'(?:\bgoto|\b(?:' + "|".join(ENGAGEMENT) + r')\()\s*([a-z0-9_]*)$')
_CHANNEL = re.compile(r'(?:^\s*send|^\s*cap)\s+([a-z0-9_]*)$')
_RULE_EVENT = re.compile(r'\b(?:on|for)\s+([a-z_][a-z0-9_]*)')
_WORD = re.compile(r'[a-z_][a-z0-9_]*$')


def complete(a: Analysis, line: int, character: int) -> list[t.CompletionItem]:
    """Items for a 0-based position in the analysed document."""
    lines = a.lines
    text = lines[line] if line < len(lines) else ""
    prefix = text[:character]
    config = a.project.config
    pb = playbook_at(a.module, line + 1)
    if m := _TEMPLATE.search(prefix):
        return _templates(a)
    if m := _LINK.search(prefix):
        return _links(a, pb, m.group(1))
    if _HOLIDAYS.search(prefix):
        return [_item(c, K.Value, name) for c, name in _countries().items()]
    if _ZONE.search(prefix):
        return [_item(z, K.Value) for z in _zones()]
    if m := _ENUM.search(prefix):
        items = _enum(config, m.group(1), text, prefix)
        if items is not None:
            return items
    if m := _FIELD.search(prefix):
        return _fields(config, m.group(1), text)
    if _EVENT.search(prefix):
        return [_item(e, K.Event, _field_list(fields)) for e, fields in sorted(_events(config).items())]
    if _STEP.search(prefix):
        return [_item(s.name, K.Function, "step") for s in (pb.steps if pb else [])]
    if _CHANNEL.search(prefix):
        return [_item(c, K.Module, ch.adapter) for c, ch in sorted((config.channels if config else {}).items())]
    return _keywords(a, line, prefix, pb)


def _item(label: str, kind: t.CompletionItemKind, detail: str | None = None) -> t.CompletionItem:
    return t.CompletionItem(label=label, kind=kind, detail=detail)


def _templates(a: Analysis) -> list[t.CompletionItem]:
    store = a.project.templates
    return [_item(name, K.File, "template") for name in (store.names() if store else [])]


def _links(a: Analysis, pb: n.Playbook | None, step_name: str) -> list[t.CompletionItem]:
    store = a.project.templates
    step = next((s for s in pb.steps if s.name == step_name), None) if pb else None
    if store is None or step is None:
        return []
    tags: dict[str, str] = {}
    for send in sends(step):
        try:
            tags.update(store.lookup(send.template).links)
        except Exception:  # noqa: BLE001 - a missing or broken template is the checker's to report
            continue
    return [_item(tag, K.Reference, url) for tag, url in sorted(tags.items())]


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    import zoneinfo

    return tuple(sorted(zoneinfo.available_timezones()))


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    import holidays

    names = {}
    for code in holidays.list_supported_countries():
        cls = getattr(holidays, code, None)
        names[code] = getattr(cls, "__name__", code)
    return dict(sorted(names.items()))


def _events(config: Config | None) -> dict[str, dict[str, FieldType]]:
    return config.all_events() if config else {}


def _field_list(fields: dict[str, FieldType]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in fields.items()) or "no fields"


def _fields_of(config: Config | None, root: str, line_text: str) -> dict[str, FieldType]:
    if config is None:
        return {}
    if root != "event":
        return config.schema_.fields(root)
    m = _RULE_EVENT.search(line_text)
    if m and (fields := config.event_fields(m.group(1))) is not None:
        return fields
    merged: dict[str, FieldType] = {}
    for fields in config.all_events().values():
        merged.update(fields)
    return merged


def _fields(config: Config | None, root: str, line_text: str) -> list[t.CompletionItem]:
    return [_item(name, K.Field, str(ft)) for name, ft in sorted(_fields_of(config, root, line_text).items())]


def _enum(config: Config | None, dotted: str, line_text: str, prefix: str) -> list[t.CompletionItem] | None:
    root, _, name = dotted.partition(".")
    ft = _fields_of(config, root, line_text).get(name)
    if ft is None or not ft.members:
        return None
    quoted = prefix.rstrip().endswith('"') or bool(re.search(r'"[a-z0-9_ -]*$', prefix))
    return [t.CompletionItem(label=m, kind=K.EnumMember, detail=f"{dotted}: {ft}",
                             insert_text=m if quoted else f'"{m}"') for m in ft.members]


def _keywords(a: Analysis, line: int, prefix: str, pb: n.Playbook | None) -> list[t.CompletionItem]:
    word = _WORD.search(prefix)
    before_word = prefix[: word.start()] if word else prefix
    start = pb.span.line - 1 if pb is not None and pb.span.line - 1 <= line else _header_above(a.lines, line)
    words = None
    if start is not None:
        words = accepted_keywords("\n".join(a.lines[start:line] + [before_word]))
    if words is None:
        indent = len(prefix) - len(prefix.lstrip(" "))
        words = accepted_keywords(stand_in(indent, before_word)) or []
    items = [_item(w, K.Keyword) for w in words]
    if re.search(r"[=(,\[<>!]\s*$|\b(?:if|when|where|and|or|not|in|to|until)\s+$", before_word):
        items += [_item(f, K.Function, "function") for f in FUNCTIONS]
        items += [_item(r, K.Variable) for r in ("contact", "deal", "stakeholder", "event", "vars", "enrollment")]
        items += [_item(let.name, K.Variable, "let") for let in (pb.of(n.Let) if pb else [])]
    return items


def _header_above(lines: list[str], line: int) -> int | None:
    for i in range(min(line, len(lines) - 1), -1, -1):
        if lines[i].startswith("playbook"):
            return i
    return None
