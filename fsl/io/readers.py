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

import itertools
from pathlib import Path
from typing import Any, Iterable

from fsl.config import Config, Schema
from fsl.engine.model import Contact

from .coerce import Bad
from .deals import read_deals
from .events import event_from, read_events
from .result import ImportResult, RowProblem
from .rows import MAX_ID, Columns, Progress, Unknown, columns_of, fields_of, ident, record_batches, schema_of
from .rows import flag_zone, odd_zones
from .source import Record, Rows

__all__ = ["ImportResult", "RowProblem", "event_from", "read_contacts", "read_deals", "read_events"]


def read_contacts(path: str | Path, schema: Schema | Config, progress: Progress = None) -> ImportResult:
    schema = schema_of(schema)
    result = ImportResult()
    unknown = Unknown(result, "contact (schema.contact)")
    where: dict[str, int] = {}
    good, lines, keys = result.good, result.lines, result.keys  # (result.add, inline: a million rows)
    rows: Iterable[tuple[int, Any, Record | None]]
    for batch in record_batches(path, result, progress):
        if isinstance(batch, Rows):  # CSV: a column at a time
            columns = columns_of("contact", batch, schema)
            if _take_clean(batch, columns, result, unknown, where):
                continue
            given_ids: Iterable[Any] = batch.columns.get("id") or itertools.repeat(None)
            rows = zip(batch.lines, given_ids, itertools.repeat(None))
            by_row = columns.rows()
        else:
            columns, by_row = None, []
            rows = ((rec.line, rec.values.get("id"), rec) for rec in batch)
        for i, (line, given, rec) in enumerate(rows):
            cid = given.strip() if type(given) is str else ""  # the common case of `ident`, inline
            if not cid or len(cid) > MAX_ID:
                try:
                    cid = ident(given, "id")
                except Bad as exc:
                    result.problems.append(RowProblem(line, str(exc)))
                    continue
            if rec is not None:
                fields, reasons = fields_of("contact", rec.values, schema, rec.text, unknown, rec.names_line)
            else:
                assert columns is not None and isinstance(batch, Rows)
                for name in columns.unknown:  # (warned once each)
                    unknown(name, batch.names_line, columns.known)
                fields, reasons = by_row[i], columns.failed.get(i) or []
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


def _take_clean(batch: Rows, columns: Columns, result: ImportResult, unknown: Unknown,
                where: dict[str, int]) -> bool:
    """The rows of a CSV batch taken at once, as the loop of read_contacts would
    take them one by one, when that loop has nothing to decide but which rows
    have a bad value and which time zones to flag (both reported as it reports
    them): every id is plain text and no contact comes twice.  False (nothing
    taken, nothing reported) otherwise."""
    given = batch.columns.get("id")
    if given is None:
        return False
    ids = list(map(str.strip, given))
    if not all(ids) or max(map(len, ids)) > MAX_ID:
        return False
    failed, taken, lines = columns.failed, ids, batch.lines
    keep: list[bool] | None = None
    if failed:  # the rows with a bad value are left out (their ids too: such a row is no contact)
        keep = [True] * len(ids)
        for i in failed:
            keep[i] = False
        taken, lines = list(itertools.compress(ids, keep)), list(itertools.compress(lines, keep))
    zones: list[Any] = []
    if "timezone" in columns.names:
        zones = columns.values[columns.names.index("timezone")]
        zones = zones if keep is None else list(itertools.compress(zones, keep))
        if not {str, type(None)}.issuperset(map(type, zones)):
            return False
    start = len(result.good)
    new = dict(zip(taken, range(start, start + len(taken))))
    if len(new) < len(taken) or not where.keys().isdisjoint(new):
        return False
    for name in columns.unknown:  # (warned once each)
        unknown(name, batch.names_line, columns.known)
    result.problems.extend(RowProblem(batch.lines[i], "; ".join(failed[i])) for i in sorted(failed))
    odd = odd_zones(set(zones))
    for line, zone in itertools.compress(zip(lines, zones), map(odd.__contains__, zones)):
        flag_zone(result, line, zone)
    fields = columns.rows(("id", ids))
    where.update(new)
    result.good.extend(map(Contact, taken, fields if keep is None else itertools.compress(fields, keep)))
    result.lines.extend(lines)
    result.keys.extend(taken)
    return True
