"""Helpers the readers share: records with problems collected, ids, fields."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from fsl.config import Config, Schema
from fsl.diagnostics.core import did_you_mean
from fsl.rowdicts import dicts

from .coerce import Bad, Column, Convert, column_converter, converter
from .result import ImportResult
from .source import Record, Rows, Source, SourceError

MAX_ID = 200
PROGRESS_EVERY = 10_000
Progress = Callable[[str, int], None] | None  # (what, how many more), as fsl.cli.common.progress


def schema_of(schema: Schema | Config) -> Schema:
    return schema.schema_ if isinstance(schema, Config) else schema


def records(path: str | Path, result: ImportResult, progress: Progress = None) -> Iterator[Record]:
    """The file's records; unreadable rows go to `result.problems`, an
    unreadable file to `result.fatal` (and then none: see ImportResult).
    `progress` hears of every PROGRESS_EVERY rows read."""
    for batch in record_batches(path, result, progress):
        yield from batch.records() if isinstance(batch, Rows) else batch


def record_batches(path: str | Path, result: ImportResult, progress: Progress = None) -> Iterator[Rows | list[Record]]:
    """`records`, from PROGRESS_EVERY rows of the file at a time: CSV as `Rows`
    (a batch of cells, see source.Rows), JSON Lines as Records."""
    source = Source(path, result.problems)
    batches = source.batches(PROGRESS_EVERY)
    while True:
        try:
            batch = next(batches, None)
        except SourceError as exc:
            result.fatal = str(exc)
            break
        result.format = source.format
        if batch is None:
            break
        yield batch
        if progress is not None:
            progress("rows read", len(batch))
    result.format = source.format


def ident(value: Any, what: str) -> str:
    """An id: text or a whole number, not empty, not huge."""
    if value is None or isinstance(value, (bool, float, dict, list)):
        raise Bad(f"{what} must be text such as c1, got {value!r}"[:200])
    text = str(value).strip()
    if not text:
        raise Bad(f"{what} is empty")
    if len(text) > MAX_ID:
        raise Bad(f"{what} is longer than {MAX_ID} characters")
    return text


class Unknown:
    """Warns once about each unknown column or key, on the first line it appears."""

    def __init__(self, result: ImportResult, what: str) -> None:
        self.result, self.what = result, what
        self.seen: set[str] = set()

    def __call__(self, name: str, line: int, known: Iterable[str] = ()) -> None:
        if name in self.seen:
            return
        self.seen.add(name)
        guess = did_you_mean(name, list(known))
        hint = f"; did you mean {guess}?" if guess else ""
        self.result.warn(line, f"{name!r} is not a field of {self.what}: ignored{hint}")


def flag_zone(result: ImportResult, line: int, zone: object) -> None:
    """An unknown time zone is kept as given (data is not replaced) and flagged on its line."""
    if not isinstance(zone, str) or not zone.strip():
        return
    from fsl.check.settings import suggest_zone, valid_zone  # lazily: the zone list is large

    if valid_zone(zone.strip()):
        return
    guess = suggest_zone(zone.strip())
    hint = f"did you mean {guess}? " if guess else ""
    result.warn(line, f"timezone {zone!r} is not an IANA time zone: kept as given, but until it is fixed "
                      f"this contact's sends use the playbook's `timezone ... default`, else fsl.yaml's "
                      f"timezone; {hint}fix it and import again")


def odd_zones(zones: set[Any]) -> set[Any]:
    """The values among `zones` that flag_zone flags."""
    texts = {zone for zone in zones if isinstance(zone, str) and zone.strip()}
    if not texts:
        return set()
    from fsl.check.settings import valid_zone  # lazily: the zone list is large

    return {zone for zone in texts if not valid_zone(zone.strip())}


def fields_of(entity: str, values: dict[str, Any], schema: Schema, text: bool, unknown: Unknown, line: int,
              skip: Iterable[str] = ("id",), prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """Declared fields coerced to their types; unknown names warned about.
    Returns (fields, reasons the row is bad)."""
    skip = tuple(skip)
    plan = _plan(schema, entity, text, skip, prefix)
    convert = plan.convert
    fields: dict[str, Any] = {}
    reasons: list[str] | None = None
    for name, value in values.items():
        if name in convert:
            try:
                fields[name] = convert[name](value)
            except Bad as exc:
                if reasons is None:
                    reasons = []
                reasons.append(str(exc))
        elif name not in skip:
            unknown(prefix + name, line, plan.known)
    return fields, reasons or []


@dataclass(frozen=True)
class _Plan:
    """How each declared field of an entity is read (the names in `skip` left out)."""

    schema: Schema  # kept, so that its id, the cache's key, is not reused while cached
    convert: dict[str, Convert]
    known: list[str]  # the declared names as an unknown one is compared with (did you mean)
    columns: dict[str, Column | None]  # (CSV) many cells of a field at once, see coerce.column_converter


_PLANS: dict[tuple, _Plan] = {}


def _plan(schema: Schema, entity: str, text: bool, skip: tuple[str, ...], prefix: str) -> _Plan:
    """The converters of `entity`'s fields, built once per schema rather than once per row."""
    key = (id(schema), entity, text, skip, prefix)
    got = _PLANS.get(key)
    if got is None or got.schema is not schema:
        declared = schema.fields(entity)
        got = _Plan(schema, {name: converter(entity, name, ftype, prefix + name, text)
                             for name, ftype in declared.items() if name not in skip},
                    [prefix + n for n in declared],
                    {name: column_converter(entity, name, ftype) if text else None
                     for name, ftype in declared.items() if name not in skip})
        if len(_PLANS) > 64:
            _PLANS.clear()
        _PLANS[key] = got
    return got


@dataclass(frozen=True)
class Columns:
    """`fields_of` of a batch of CSV rows: `rows()[i]` and the reasons failed[i]
    (when there are any) are what fields_of gives for row i; `unknown` the columns
    that fields_of would warn about (the caller warns once a row is taken)."""

    names: list[str]  # the columns converted, in the header's order
    values: list[list[Any]]  # values[j][i]: row i's value of names[j]
    size: int  # rows
    failed: dict[int, list[str]]
    unknown: list[str]
    known: list[str]

    def rows(self, *extra: tuple[str, Sequence[Any]]) -> list[dict[str, Any]]:
        """A dict of fields a row; (name, values) in `extra` are added last, one value a row."""
        return dicts(self.names + [name for name, _ in extra], self.values + [v for _, v in extra], self.size)


def columns_of(entity: str, batch: Rows, schema: Schema, skip: tuple[str, ...] = ("id",),
               prefix: str = "") -> Columns:
    """fields_of for CSV rows, a column at a time: a column of common values
    is converted without a Python step per cell, and a row's reasons come in
    the order of its columns."""
    plan = _plan(schema, entity, True, skip, prefix)
    cells = batch.columns
    declared = [name for name in cells if name in plan.convert]
    failed: dict[int, list[str]] = {}
    values = []
    for name in declared:
        column = plan.columns[name]
        got = column(list(cells[name])) if column is not None else None
        values.append(got if got is not None else _cell_by_cell(plan.convert[name], cells[name], failed))
    unknown = [prefix + name for name in cells if name not in plan.convert and name not in skip]
    return Columns(declared, values, len(batch), failed, unknown, plan.known)


def _cell_by_cell(convert: Convert, cells: Sequence, failed: dict[int, list[str]]) -> list:
    try:
        return list(map(convert, cells))
    except Bad:
        pass
    values = []
    for i, cell in enumerate(cells):
        try:
            values.append(convert(cell))
        except Bad as exc:
            failed.setdefault(i, []).append(str(exc))
            values.append(None)
    return values
