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
from typing import Any, Iterable, Iterator

from fsl.config import Config, Schema
from fsl.engine.model import Contact
from fsl.store.codec import dumps_columns

from .coerce import Bad
from .deals import read_deals
from .events import event_from, read_events
from .result import ContactBatch, ImportResult, RowProblem
from .rows import MAX_ID, Columns, Progress, Unknown, columns_of, fields_of, ident, record_batches, schema_of
from .rows import flag_zone, odd_zones
from .source import Record, Rows

__all__ = ["ImportResult", "RowProblem", "contact_batches", "event_from", "read_contacts", "read_deals",
           "read_events", "stream_contacts"]


def read_contacts(path: str | Path, schema: Schema | Config, progress: Progress = None) -> ImportResult:
    """The whole file's contacts in `result.good` (a contact on several lines once, the later values
    merged over the earlier ones)."""
    result = ImportResult()
    at: dict[str, int] = {}  # id -> its index in good
    good, lines, keys = result.good, result.lines, result.keys
    for batch in contact_batches(path, schema, result, progress):
        if not batch.repeats:
            ids = [c.id for c in batch.contacts]
            at.update(zip(ids, range(len(good), len(good) + len(ids))))
            good.extend(batch.contacts)
            lines.extend(batch.lines)
            keys.extend(ids)
            continue
        for contact, line in zip(batch.contacts, batch.lines):
            if contact.id in batch.repeats:
                j = at[contact.id]
                good[j] = Contact(contact.id, {**good[j].fields, **contact.fields})
                continue
            at[contact.id] = len(good)
            good.append(contact)
            lines.append(line)
            keys.append(contact.id)
    return result


def stream_contacts(path: str | Path, schema: Schema | Config, progress: Progress = None) -> ImportResult:
    """The file's contacts batch by batch in `result.stream`, read as they are stored: a
    million rows are never all in memory.  The header and first rows are read here, so a
    file that cannot be read sets `result.fatal` before anything is stored; the problems
    and warnings are complete once the stream is."""
    result = ImportResult()
    batches = contact_batches(path, schema, result, progress)
    first = next(batches, None)
    if result.fatal is None:
        result.stream = itertools.chain([first] if first is not None else [], batches)
    return result


def contact_batches(path: str | Path, schema: Schema | Config, result: ImportResult,
                    progress: Progress = None) -> Iterator[ContactBatch]:
    """The good contacts of each batch of the file's rows, as they are read; problems and
    warnings go to `result` (sorted once the file is read).  A contact on several lines of one
    batch comes once, the later values merged over the earlier; one already given in an earlier
    batch comes again, in `repeats`, with this batch's values (see ContactBatch)."""
    schema = schema_of(schema)
    unknown = Unknown(result, "contact (schema.contact)")
    where: dict[str, int] = {}  # id -> the line it was first given on
    rows: Iterable[tuple[int, Any, Record | None]]
    for batch in record_batches(path, result, progress):
        good: list[Contact] = []
        lines: list[int] = []
        if isinstance(batch, Rows):  # CSV: a column at a time
            columns = columns_of("contact", batch, schema)
            clean = _take_clean(batch, columns, result, unknown, where)
            if clean is not None:
                yield clean
                continue
            given_ids: Iterable[Any] = batch.columns.get("id") or itertools.repeat(None)
            rows = zip(batch.lines, given_ids, itertools.repeat(None))
            by_row = columns.rows()
        else:
            columns, by_row = None, []
            rows = ((rec.line, rec.values.get("id"), rec) for rec in batch)
        here: dict[str, int] = {}  # id -> its index in good
        repeats: set[str] = set()
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
                result.warn(line, f"contact {cid} is also on line {where[cid]}; the later values win")
                if cid in here:
                    j = here[cid]
                    good[j] = Contact(cid, {**good[j].fields, **fields})
                    continue
                repeats.add(cid)
            else:
                where[cid] = line
            here[cid] = len(good)
            good.append(Contact(cid, fields))
            lines.append(line)
        if good:
            yield ContactBatch(good, lines, repeats)
    result.sort_problems()


def _take_clean(batch: Rows, columns: Columns, result: ImportResult, unknown: Unknown,
                where: dict[str, int]) -> ContactBatch | None:
    """The rows of a CSV batch taken at once, as the loop of read_contacts would
    take them one by one, when that loop has nothing to decide but which rows
    have a bad value and which time zones to flag (both reported as it reports
    them): every id is plain text and no contact comes twice.  None (nothing
    taken, nothing reported) otherwise.  The batch comes with its contacts'
    fields as the store writes them (`ContactBatch.texts`), encoded a column
    at a time (codec.dumps_columns) when their kinds allow."""
    given = batch.columns.get("id")
    if given is None:
        return None
    ids = list(map(str.strip, given))
    if not all(ids) or max(map(len, ids)) > MAX_ID:
        return None
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
            return None
    if not where.keys().isdisjoint(taken):
        return None
    known = len(where)
    where.update(zip(taken, lines))  # (no dict of the batch's own: this is a million rows' bookkeeping)
    if len(where) - known < len(taken):  # an id twice in the batch: undone, and taken row by row
        for cid in taken:
            where.pop(cid, None)
        return None
    for name in columns.unknown:  # (warned once each)
        unknown(name, batch.names_line, columns.known)
    result.problems.extend(RowProblem(batch.lines[i], "; ".join(failed[i])) for i in sorted(failed))
    odd = odd_zones(set(zones))
    for line, zone in itertools.compress(zip(lines, zones), map(odd.__contains__, zones)):
        flag_zone(result, line, zone)
    fields = columns.rows(("id", ids))
    texts = dumps_columns(columns.names + ["id"], columns.values + [ids], columns.size)
    if keep is not None:
        fields = list(itertools.compress(fields, keep))
        texts = None if texts is None else list(itertools.compress(texts, keep))
    return ContactBatch(list(map(Contact, taken, fields)), list(lines), texts=texts)
