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
from typing import cast

from fsl.config import Config, Schema
from fsl.engine.model import Contact

from .coerce import Bad
from .deals import read_deals
from .events import event_from, read_events
from .result import ImportResult, RowProblem
from .rows import MAX_ID, Columns, Progress, Unknown, columns_of, fields_of, ident, record_batches, schema_of
from .rows import flag_zone
from .source import Record

__all__ = ["ImportResult", "RowProblem", "event_from", "read_contacts", "read_deals", "read_events"]


def read_contacts(path: str | Path, schema: Schema | Config, progress: Progress = None) -> ImportResult:
    schema = schema_of(schema)
    result = ImportResult()
    unknown = Unknown(result, "contact (schema.contact)")
    where: dict[str, int] = {}
    good, lines, keys = result.good, result.lines, result.keys  # (result.add, inline: a million rows)
    for batch in record_batches(path, result, progress):
        columns = columns_of("contact", batch, schema) if batch[0].text else None  # CSV: a column at a time
        if columns is not None and _take_clean(batch, columns, result, unknown, where):
            continue
        for i, rec in enumerate(batch):
            values, line = rec.values, rec.line
            given = values.get("id")
            cid = given.strip() if type(given) is str else ""  # the common case of `ident`, inline
            if not cid or len(cid) > MAX_ID:
                try:
                    cid = ident(given, "id")
                except Bad as exc:
                    result.problems.append(RowProblem(line, str(exc)))
                    continue
            if columns is None:
                fields, reasons = fields_of("contact", values, schema, rec.text, unknown, rec.names_line)
            else:
                for name in columns.unknown:  # (warned once each)
                    unknown(name, rec.names_line, columns.known)
                fields, reasons = columns.rows[i], columns.failed.get(i) or []
            if reasons:
                result.problems.append(RowProblem(line, "; ".join(reasons)))
                continue
            fields["id"] = cid
            if "timezone" in fields:
                flag_zone(result, line, fields["timezone"])
            if cid in where:  # the same contact twice in one file: one update, later values win
                j = where[cid]
                result.warn(line, f"contact {cid} is also on line {lines[j]}; the later values win")
                good[j] = Contact(cid, {**good[j].fields, **fields})
                continue
            where[cid] = len(good)
            good.append(Contact(cid, fields))
            lines.append(line)
            keys.append(cid)
    result.sort_problems()
    return result


def _take_clean(batch: list[Record], columns: Columns, result: ImportResult, unknown: Unknown,
                where: dict[str, int]) -> bool:
    """The rows of a CSV batch taken at once, as the loop of read_contacts would
    take them one by one, when that loop has nothing to decide: every id is
    plain text, no value is bad, no time zone is given and no contact comes
    twice.  False (nothing taken) otherwise."""
    if columns.failed or (columns.rows and "timezone" in columns.rows[0]):
        return False
    given = [rec.values.get("id") for rec in batch]
    if set(map(type, given)) != {str}:
        return False
    ids = list(map(str.strip, cast(list[str], given)))
    if not all(ids) or max(map(len, ids)) > MAX_ID or len(set(ids)) < len(ids) or not where.keys().isdisjoint(ids):
        return False
    for name in columns.unknown:  # (warned once each)
        unknown(name, batch[0].names_line, columns.known)
    for fields, cid in zip(columns.rows, ids):
        fields["id"] = cid
    where.update(zip(ids, range(len(result.good), len(result.good) + len(ids))))
    result.good.extend(map(Contact, ids, columns.rows))
    result.lines.extend([rec.line for rec in batch])
    result.keys.extend(ids)
    return True
