"""Deals and their stakeholders from CSV or JSON Lines.

JSON Lines: a scenario deal, `{"id": "d1", "name": ..., "stakeholders":
[{"contact": "c1", "role": "economic"}]}`.

CSV: one row per deal and stakeholder, the way a spreadsheet holds it:

    id,name,stage,amount,contact,role,attended
    d1,Northwind,demo,60000,c1,economic,true
    d1,,,,c2,technical,false

`id` and deal fields; `contact` (the stakeholder's contact id) and the
stakeholder's fields, by their bare names or as `stakeholder.NAME` when the
deal has a field of the same name.  Rows of one deal merge: its first row
must carry the deal's required fields, later rows may leave them empty.
A `stakeholders` column holding the JSON list of the JSON Lines form works
too.  A file with a `contact` or `stakeholders` column (key) gives each of
its deals' stakeholders completely (`ImportResult.replace_stakeholders`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fsl.config import Config, Schema
from fsl.engine.model import Deal

from .coerce import MAX_DEPTH, Bad, is_empty, nests_deeper
from .result import ImportResult, RowProblem
from .rows import Progress, Unknown, fields_of, ident, records, schema_of
from .source import Record

PREFIX = "stakeholder."
_EXAMPLE = '[{"contact": "c1", "role": "economic"}]'


def read_deals(path: str | Path, schema: Schema | Config, progress: Progress = None) -> ImportResult:
    schema = schema_of(schema)
    result = ImportResult()
    unknown = Unknown(result, "deal (schema.deal, schema.stakeholder)")
    where: dict[str, int] = {}
    for rec in records(path, result, progress):
        try:
            did = ident(rec.values.get("id"), "id")
            values, stakes, gives = _split(rec, schema)
            if rec.text and did in where:  # a later row of a deal: empty cells say nothing
                values = {k: v for k, v in values.items() if not is_empty(v, True)}
            fields, reasons = fields_of("deal", values, schema, rec.text, unknown, rec.names_line)
            links = _stakeholders(stakes, schema, rec.names_line, unknown, reasons)
        except Bad as exc:
            result.problems.append(RowProblem(rec.line, str(exc)))
            continue
        if reasons:
            result.problems.append(RowProblem(rec.line, "; ".join(reasons)))
            continue
        fields["id"] = did
        if gives:
            result.replace_stakeholders.add(did)
        if did not in where:
            where[did] = len(result.good)
            result.add(Deal(did, fields, links), rec.line, did)
            continue
        i = where[did]
        old: Deal = result.good[i]
        if not rec.text:
            result.warn(rec.line, f"deal {did} is also on line {result.lines[i]}; the later values win")
        else:
            for name, value in fields.items():
                if name != "id" and name in old.fields and old.fields[name] != value:
                    result.warn(rec.line, f"deal {did}: {name} differs from line {result.lines[i]}; "
                                          "the later value wins")
        result.good[i] = Deal(did, {**old.fields, **fields}, {**old.stakeholders, **links})
    result.sort_problems()
    return result


def _split(rec: Record, schema: Schema) -> tuple[dict[str, Any], list[tuple[Any, bool]], bool]:
    """(deal values, [(stakeholder entry, is text)], whether stakeholders are given)."""
    if not rec.text:
        stakes = rec.values.get("stakeholders")
        if stakes is not None and not isinstance(stakes, list):
            raise Bad(f"stakeholders must be a list such as {_EXAMPLE}")
        values: dict[str, Any] = {k: v for k, v in rec.values.items() if k != "stakeholders"}
        return values, [(s, False) for s in stakes or []], "stakeholders" in rec.values
    deal_fields, stake_fields = schema.fields("deal"), schema.fields("stakeholder")
    values = {}
    stake: dict[str, Any] = {}
    for name, cell in rec.values.items():
        if name in ("contact", "stakeholders"):
            continue
        if name.startswith(PREFIX):
            stake[name[len(PREFIX):]] = cell
        elif name in stake_fields and name not in deal_fields and name != "id":
            stake[name] = cell
        else:
            values[name] = cell
    entries: list[tuple[Any, bool]] = []
    listed = rec.values.get("stakeholders")
    if listed is not None and listed.strip():
        if nests_deeper(listed):
            raise Bad(f"the stakeholders column nests deeper than {MAX_DEPTH} levels")
        try:
            parsed = json.loads(listed)
        except ValueError:
            raise Bad(f"the stakeholders column must be a JSON list such as {_EXAMPLE}") from None
        if not isinstance(parsed, list):
            raise Bad(f"the stakeholders column must be a JSON list such as {_EXAMPLE}")
        entries.extend((s, False) for s in parsed)
    contact = rec.values.get("contact")
    if contact is not None and contact.strip():
        entries.append(({"contact": contact, **stake}, True))
    elif any(not is_empty(v, True) for v in stake.values()):
        raise Bad("stakeholder fields are filled in but the contact column is empty")
    return values, entries, "contact" in rec.values or "stakeholders" in rec.values


def _stakeholders(entries: list[tuple[Any, bool]], schema: Schema, line: int, unknown: Unknown,
                  reasons: list[str]) -> dict[str, dict[str, Any]]:
    links: dict[str, dict[str, Any]] = {}
    for n, (item, text) in enumerate(entries, 1):
        if not isinstance(item, dict):
            reasons.append(f"stakeholder {n}: expected an object such as {_EXAMPLE[1:-1]}")
            continue
        try:
            cid = ident(item.get("contact"), f"stakeholder {n}: contact")
        except Bad as exc:
            reasons.append(str(exc))
            continue
        values = {k: v for k, v in item.items() if k != "contact"}
        fields, bad = fields_of("stakeholder", values, schema, text, unknown, line, skip=(), prefix=PREFIX)
        reasons.extend(f"stakeholder {cid}: {r}" for r in bad)
        links[cid] = fields
    return links
