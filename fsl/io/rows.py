"""Helpers the readers share: records with problems collected, ids, fields."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from fsl.config import Config, Schema
from fsl.diagnostics.core import did_you_mean

from .coerce import Bad, check_field, coerce
from .result import ImportResult
from .source import Record, Source, SourceError

MAX_ID = 200
PROGRESS_EVERY = 10_000
Progress = Callable[[str, int], None] | None  # (what, how many more), as fsl.cli.common.progress


def schema_of(schema: Schema | Config) -> Schema:
    return schema.schema_ if isinstance(schema, Config) else schema


def records(path: str | Path, result: ImportResult, progress: Progress = None) -> Iterator[Record]:
    """The file's records; unreadable rows go to `result.problems`, an
    unreadable file to `result.fatal`.  `progress` hears of every
    PROGRESS_EVERY rows read."""
    source = Source(path, result.problems)
    try:
        n = 0
        for record in source.records():
            result.format = source.format
            yield record
            n += 1
            if progress is not None and n == PROGRESS_EVERY:
                progress("rows read", n)
                n = 0
        if progress is not None and n:
            progress("rows read", n)
    except SourceError as exc:
        result.fatal = str(exc)
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


def fields_of(entity: str, values: dict[str, Any], schema: Schema, text: bool, unknown: Unknown, line: int,
              skip: Iterable[str] = ("id",), prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """Declared fields coerced to their types; unknown names warned about.
    Returns (fields, reasons the row is bad)."""
    declared = _declared(schema, entity)
    fields: dict[str, Any] = {}
    reasons: list[str] = []
    for name, value in values.items():
        if name in skip:
            continue
        ftype = declared.get(name)
        if ftype is None:
            unknown(prefix + name, line, [prefix + n for n in declared])
            continue
        try:
            fields[name] = coerce(ftype, value, prefix + name, text)
            if name == "email":
                check_field(entity, name, fields[name], prefix + name)
        except Bad as exc:
            reasons.append(str(exc))
    return fields, reasons


_DECLARED: dict[tuple[int, str], tuple[Schema, dict]] = {}


def _declared(schema: Schema, entity: str) -> dict:
    """schema.fields(entity), built once per schema rather than once per row."""
    key = (id(schema), entity)
    got = _DECLARED.get(key)
    if got is None or got[0] is not schema:  # the schema is kept in the value: its id is not reused
        got = _DECLARED[key] = (schema, schema.fields(entity))
        if len(_DECLARED) > 64:
            _DECLARED.clear()
            _DECLARED[key] = got
    return got[1]
