"""Events from JSON Lines (or CSV), and from `fsl event` options.

Keys: `at` (ISO 8601; naive means UTC), `type` (a built-in or declared
event, or `update`), `contact` and/or `deal`, optional `step` (the message
an engagement event concerns), optional `id`, and the event's declared
fields (`kind`, `link`, `return_date`, ...), coerced to their types.  An
`update` carries `set: {field: value}` for the contact (or the deal when it
names only a deal).  Keys the event does not declare are warned about once
and ignored.  Whether the contact, deal or message exists is the store's
business: such events are kept and reported by the command, never dropped.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fsl.config import BUILTIN_EVENTS, Config, FieldType
from fsl.engine.model import Event

from .coerce import Bad, coerce, is_empty
from .keys import event_key
from .result import ImportResult, RowProblem
from .rows import Unknown, ident, records

EVENT_KEYS = ("at", "type", "contact", "deal", "step", "id")
_INSTANT = FieldType(kind="datetime")


def read_events(path: str | Path, config: Config) -> ImportResult:
    result = ImportResult()
    unknown = Unknown(result, "the event")
    seen: dict[str, int] = {}
    for rec in records(path, result):
        try:
            event, explicit = event_from(rec.values, config, rec.text, rec.line, unknown, rec.names_line)
        except Bad as exc:
            result.problems.append(RowProblem(rec.line, str(exc)))
            continue
        key = event_key(event, explicit)
        if key in seen:
            result.warn(rec.line, f"the same event as line {seen[key]}: kept once")
            continue
        seen[key] = rec.line
        result.add(event, rec.line, key)
    result.sort_problems()
    return result


def event_from(values: dict[str, Any], config: Config, text: bool = False, line: int = 0,
               unknown: Unknown | None = None, names_line: int = 0) -> tuple[Event, str | None]:
    """One event from its keys; (event, its explicit id or None).  Raises Bad.
    `names_line` is where unknown keys are reported (a CSV's header)."""
    if is_empty(values.get("at"), True):
        raise Bad("missing at (the instant, such as 2026-11-23T14:00:00Z)")
    at = coerce(_INSTANT, values["at"], "at", text)
    etype = ident(values.get("type"), "type")
    contact = _optional(values, "contact")
    deal = _optional(values, "deal")
    if contact is None and deal is None:
        raise Bad(f"event {etype} names neither a contact nor a deal")
    step = _optional(values, "step")
    explicit = _optional(values, "id")
    rest = {k: v for k, v in values.items() if k not in EVENT_KEYS}
    if etype == "update":
        entity = "contact" if contact is not None else "deal"
        fields = {"set": _changes(rest, config, entity, text, names_line or line, unknown)}
    else:
        fields = _fields(etype, rest, config, text, names_line or line, unknown)
    return Event(at, etype, contact, deal, step, fields, line=line or None), explicit


def _optional(values: dict[str, Any], key: str) -> str | None:
    value = values.get(key)
    return None if is_empty(value, True) else ident(value, key)


def _fields(etype: str, rest: dict[str, Any], config: Config, text: bool, line: int,
            unknown: Unknown | None) -> dict[str, Any]:
    declared = config.event_fields(etype)
    if declared is None:
        known = [*BUILTIN_EVENTS, *(e for e in config.events if e not in BUILTIN_EVENTS), "update"]
        raise Bad(f"unknown event type {etype}; known events: {', '.join(known)}")
    fields: dict[str, Any] = {}
    reasons: list[str] = []
    for name, value in rest.items():
        ftype = declared.get(name)
        if ftype is None:
            if unknown is not None and not (text and is_empty(value, True)):
                unknown(f"{etype}.{name}", line, [f"{etype}.{n}" for n in declared])
            continue
        if text and is_empty(value, True):
            continue  # a CSV column this event does not fill
        try:
            fields[name] = coerce(ftype, value, name, text)
        except Bad as exc:
            reasons.append(str(exc))
    if reasons:
        raise Bad("; ".join(reasons))
    return fields


def _changes(rest: dict[str, Any], config: Config, entity: str, text: bool, line: int,
             unknown: Unknown | None) -> dict[str, Any]:
    changes = rest.get("set")
    if text and isinstance(changes, str):  # CSV: a JSON object in the `set` column
        try:
            changes = json.loads(changes)
        except ValueError:
            raise Bad('set must be a JSON object such as {"stage": "closed_won"}') from None
        text = False
    if not isinstance(changes, dict) or not changes:
        raise Bad("an update event needs set: {field: value, ...}")
    for name in rest:
        if name != "set" and unknown is not None:
            unknown(f"update.{name}", line, ["update.set"])
    declared = config.schema_.fields(entity)
    out: dict[str, Any] = {}
    reasons: list[str] = []
    for name, value in changes.items():
        ftype = declared.get(str(name))
        if ftype is None or name == "id":
            reasons.append(f"set.{name}: not a field of the {entity} (schema.{entity})")
            continue
        try:
            out[str(name)] = coerce(ftype, value, f"set.{name}", text)
        except Bad as exc:
            reasons.append(str(exc))
    if reasons:
        raise Bad("; ".join(reasons))
    return out
