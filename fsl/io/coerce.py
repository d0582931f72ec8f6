"""Values from an import file -> the types the schema declares (CONFIG.md field types).

CSV gives text, JSON Lines gives JSON values; both go through `coerce`, so a
`tier` is checked against its enum and a `last_order_at` becomes a UTC
instant whichever format it came in.  Failures raise `Bad` with a reason a
person can act on.
"""
from __future__ import annotations

import functools
import json
import math
import operator
import re
from datetime import date, datetime, timezone
from typing import Any, Callable

from fsl.config import FieldType
from fsl.delivery.address import BadAddress, one_address, plain_address
from fsl.diagnostics.core import did_you_mean
from fsl.timecalc import parse_instant

MAX_TEXT = 100_000  # characters in one value
MAX_DEPTH = 64  # nesting of JSON in one line or cell: deeper is a mistake or an attack, and json recurses
TRUE = frozenset({"true", "yes", "1"})
FALSE = frozenset({"false", "no", "0"})
# Instants the runtime can compute with: a year-1 event overflows the first
# `wait`, and no CRM record is older than Unix time or two centuries ahead.
INSTANT_RANGE = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2201, 1, 1, tzinfo=timezone.utc))
_INT = re.compile(r"^[+-]?\d+$")
UTC = timezone.utc


class Bad(ValueError):
    """A value that does not fit its field; str() is the reason."""


def check_field(entity: str, name: str, value: Any, what: str) -> None:
    """Rules beyond the type: a contact's `email` names exactly one address
    (fsl.delivery.address), so no import can add a second recipient."""
    if entity == "contact" and name == "email" and value is not None:
        try:
            one_address(value)
        except BadAddress as exc:
            raise Bad(f"{what}: {exc}") from None


def is_empty(value: Any, text: bool) -> bool:
    return value is None or (text and isinstance(value, str) and not value.strip())


def coerce(ftype: FieldType, value: Any, what: str, text: bool = False) -> Any:
    """`value` as `ftype`; `text` when it came from a CSV cell.  Raises Bad."""
    if text and type(value) is str:  # a CSV cell: the common case first (a million rows an import)
        value = value.strip()
        if value and ftype.kind == "string":
            return _string(value, what)
    if is_empty(value, text):
        if ftype.optional:
            return None
        if ftype.kind == "list" and text:
            return []
        raise Bad(f"{what} needs a value (the field is not optional)")
    if ftype.kind == "enum":
        return _enum(ftype, value, what)
    convert = _BY_KIND.get(ftype.kind)
    if convert is None:
        raise Bad(f"{what}: unsupported field type {ftype}")  # pragma: no cover
    return convert(value, what)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: Any, what: str) -> str:
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise Bad(f"{what} is longer than {MAX_TEXT} characters")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Bad(f"{what}: expected text, got {_show(value)}")


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool):
        raise Bad(f"{what}: expected a number, got {_show(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if _INT.match(text) else float(text)
        except ValueError:
            raise Bad(f"{what}: expected a number such as 1200 or 12.5, got {_show(text)}") from None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise Bad(f"{what}: expected a number, got {_show(value)}")


def _integer(value: Any, what: str) -> int:
    number = _number(value, what)
    if isinstance(number, float):
        if not number.is_integer():
            raise Bad(f"{what}: expected a whole number, got {_show(value)}")
        return int(number)
    return number


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
    raise Bad(f"{what}: expected true/false (or yes/no, 1/0), got {_show(value)}")


def _date(value: Any, what: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Bad(f"{what}: expected a date YYYY-MM-DD, got {_show(value)}")


def _datetime(value: Any, what: str) -> datetime:
    try:
        t = parse_instant(value.strip() if isinstance(value, str) else value) if isinstance(value, (str, datetime)) else None
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC instant
        t = None
    if t is None:
        raise Bad(f"{what}: expected an ISO 8601 instant such as 2026-11-23T14:00:00Z, got {_show(value)}")
    low, high = INSTANT_RANGE
    if not low <= t < high:
        shown = value.isoformat() if isinstance(value, datetime) else value
        raise Bad(f"{what}: {_show(shown)} is outside the years {low.year}-{high.year - 1}")
    return t


def _enum(ftype: FieldType, value: Any, what: str) -> str:
    if isinstance(value, (dict, list)):
        raise Bad(f"{what}: expected one of {', '.join(ftype.members)}, got {_show(value)}")
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if text in ftype.members:
        return text
    guess = did_you_mean(text, ftype.members)
    hint = f"; did you mean {guess}?" if guess else ""
    raise Bad(f"{what}: {_show(text)} is not one of {', '.join(ftype.members)}{hint}")


def nests_deeper(text: str, limit: int | None = None) -> bool:
    """Whether the JSON text opens more than `limit` brackets at once (brackets
    inside strings are skipped)."""
    limit = MAX_DEPTH if limit is None else limit
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, without a scan
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def _list(value: Any, what: str) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            if nests_deeper(text):
                raise Bad(f"{what}: the list nests deeper than {MAX_DEPTH} levels")
            try:
                parsed = json.loads(text)
            except ValueError:
                raise Bad(f"{what}: a list starting with [ must be JSON, such as [\"a\", \"b\"]") from None
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in text.split(";") if part.strip()]
    raise Bad(f"{what}: expected a list (JSON [..] or a;b;c), got {_show(value)}")


_BY_KIND = {"string": _string, "number": _number, "integer": _integer, "bool": _bool, "date": _date,
            "datetime": _datetime, "list": _list}


Convert = Callable[[Any], Any]


def converter(entity: str, name: str, ftype: FieldType, what: str, text: bool) -> Convert:
    """`coerce` (and `check_field`) of one field, made once per file rather
    than once per value: a CSV of a million rows coerces millions of cells.
    The fast paths take only values that `coerce` would return unchanged
    (or as the same instant), and send everything else to `coerce`, so every
    value is checked alike and a bad one gets the same reason."""
    if not text:
        plain: Convert = functools.partial(coerce, ftype, what=what, text=False)
    elif entity == "contact" and name == "email" and ftype.kind == "string":
        return _text_email(entity, name, ftype, what)
    elif ftype.kind == "string":
        plain = _text_string(ftype, what)
    elif ftype.kind == "enum":
        plain = _text_enum(ftype, what)
    elif ftype.kind == "datetime":
        plain = _text_instant(ftype, what)
    else:
        plain = functools.partial(coerce, ftype, what=what, text=True)
    if entity == "contact" and name == "email":
        def checked(value: Any) -> Any:
            out = plain(value)
            check_field(entity, name, out, what)
            return out
        return checked
    return plain


def _text_string(ftype: FieldType, what: str) -> Convert:
    def cell(value: Any) -> Any:
        if type(value) is str:
            stripped = value.strip()
            if stripped and len(stripped) <= MAX_TEXT:
                return stripped
        return coerce(ftype, value, what, True)
    return cell


def _text_email(entity: str, name: str, ftype: FieldType, what: str) -> Convert:
    """A contact's address: the common `ana@x.example` is the address one_address returns as is."""
    def cell(value: Any) -> Any:
        if type(value) is str:
            stripped = value.strip()
            if stripped and len(stripped) <= MAX_TEXT and plain_address(stripped):
                return stripped
        out = coerce(ftype, value, what, True)
        check_field(entity, name, out, what)
        return out
    return cell


def _text_enum(ftype: FieldType, what: str) -> Convert:
    members = frozenset(m for m in ftype.members if m)  # (an empty cell is "no value", never a member)

    def cell(value: Any) -> Any:
        if type(value) is str:
            stripped = value.strip()
            if stripped in members:
                return stripped
        return coerce(ftype, value, what, True)
    return cell


def _text_instant(ftype: FieldType, what: str) -> Convert:
    """parse_instant and the INSTANT_RANGE check of `_datetime`, inline."""
    low, high = INSTANT_RANGE
    fromisoformat = datetime.fromisoformat

    def cell(value: Any) -> Any:
        if type(value) is str:
            stripped = value.strip()
            if stripped:
                try:
                    t = fromisoformat(stripped[:-1] + "+00:00" if stripped[-1] in "Zz" else stripped)
                    if t.tzinfo is not UTC:  # (astimezone would return t itself)
                        t = (t if t.tzinfo is not None else t.replace(tzinfo=UTC)).astimezone(UTC)
                except (ValueError, OverflowError):
                    t = None
                if t is not None and low <= t < high:
                    return t
        return coerce(ftype, value, what, True)
    return cell


Column = Callable[[list], "list | None"]


def column_converter(entity: str, name: str, ftype: FieldType) -> Column | None:
    """For the CSV cells of one column (text, none longer than MAX_TEXT, as
    source.Rows gives them), many rows at once: their values when
    every cell is in the common case, converted with no Python step per cell
    (str.strip, a set or a regex mapped over the column), else None and the
    caller converts cell by cell (`converter`), so that each bad cell gets
    its reason.  None when the kind has no such path."""
    address = entity == "contact" and name == "email"  # check_field's rule
    if address and ftype.kind != "string":
        return None
    if ftype.kind == "enum":
        members = frozenset(m for m in ftype.members if m)

        def enum_column(cells: list) -> list | None:
            stripped = _stripped(cells)
            return stripped if stripped is not None and members.issuperset(stripped) else None
        return enum_column
    if ftype.kind == "datetime":
        return _instant_column()
    if ftype.kind != "string":
        return None
    if address:
        def email_column(cells: list) -> list | None:
            stripped = _stripped(cells)
            if stripped is None or not all(stripped) or not all(map(plain_address, stripped)):
                return None
            return stripped
        return email_column
    optional = ftype.optional

    def string_column(cells: list) -> list | None:
        stripped = _stripped(cells)
        if stripped is None or all(stripped):
            return stripped
        return [cell or None for cell in stripped] if optional else None  # an empty cell is no value
    return string_column


def _instant_column() -> Column:
    """`_text_instant` of a column whose cells are all ISO instants in UTC within
    INSTANT_RANGE, with one fromisoformat mapped over it: the same datetimes,
    which that path returns unchanged.  Anything else (an empty cell, another
    offset, no offset, a bad or out-of-range value) goes cell by cell."""
    low, high = INSTANT_RANGE
    fromisoformat = datetime.fromisoformat

    def instant_column(cells: list) -> list | None:
        stripped = _stripped(cells)
        if stripped is None or not all(stripped):
            return None
        try:  # (fromisoformat reads a trailing Z itself, as _text_instant's "+00:00" for it)
            times = list(map(fromisoformat, stripped))
        except (ValueError, OverflowError):
            try:  # a trailing z, or a date with a Z (then naive: cell by cell below)
                times = list(map(fromisoformat, [s[:-1] + "+00:00" if s[-1] in "Zz" else s for s in stripped]))
            except (ValueError, OverflowError):
                return None
        if set(map(id, map(_TZINFO, times))) != {id(UTC)} or min(times) < low or max(times) >= high:
            return None
        return times
    return instant_column


_TZINFO = operator.attrgetter("tzinfo")


def _stripped(cells: list) -> list | None:
    """The cells stripped (None for no cells).  CSV cells are text of at most
    MAX_TEXT characters (source.Rows: a longer one is reported by the reader and its
    row never reaches a column), so neither is looked at again, cell by cell."""
    return list(map(str.strip, cells)) if cells else None
