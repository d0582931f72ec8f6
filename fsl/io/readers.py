"""`fsl contacts import`, `fsl deals import`, `fsl events import`: files -> model objects.

The readers never raise for bad input and never touch the store: a file
becomes `Contact`, `Deal` or `Event` objects plus problems (line, reason)
and warnings, and the command decides what to store.  Reading the same file
twice gives equal objects under equal keys, so importing again updates
rather than duplicates.  The format is chosen by the extension (`.csv`;
`.jsonl`, `.ndjson`, `.json`), else by the first character (`{`: JSON
Lines); see source.py for what is reported, and deals.py / events.py for
those formats.

Contacts: CSV with a header row of field names (`id` required), or JSON
Lines with the keys of a scenario contact.  Only the fields the file gives
are set: a column left out keeps the stored value.  An empty cell makes an
optional field none; an empty required field is a bad row.
"""
from __future__ import annotations

from pathlib import Path

from fsl.config import Config, Schema
from fsl.engine.model import Contact

from .coerce import Bad
from .deals import read_deals
from .events import event_from, read_events
from .result import ImportResult, RowProblem
from .rows import Unknown, fields_of, ident, records, schema_of

__all__ = ["ImportResult", "RowProblem", "event_from", "read_contacts", "read_deals", "read_events"]


def read_contacts(path: str | Path, schema: Schema | Config) -> ImportResult:
    schema = schema_of(schema)
    result = ImportResult()
    unknown = Unknown(result, "contact (schema.contact)")
    where: dict[str, int] = {}
    for rec in records(path, result):
        try:
            cid = ident(rec.values.get("id"), "id")
        except Bad as exc:
            result.problems.append(RowProblem(rec.line, str(exc)))
            continue
        fields, reasons = fields_of("contact", rec.values, schema, rec.text, unknown, rec.names_line)
        if reasons:
            result.problems.append(RowProblem(rec.line, "; ".join(reasons)))
            continue
        fields["id"] = cid
        if cid in where:  # the same contact twice in one file: one update, later values win
            i = where[cid]
            result.warn(rec.line, f"contact {cid} is also on line {result.lines[i]}; the later values win")
            result.good[i] = Contact(cid, {**result.good[i].fields, **fields})
            continue
        where[cid] = len(result.good)
        result.add(Contact(cid, fields), rec.line, cid)
    result.sort_problems()
    return result
