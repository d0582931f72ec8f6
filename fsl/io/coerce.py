"""Values from an import file -> the types the schema declares (CONFIG.md field types).

CSV gives text, JSON Lines gives JSON values; both go through `coerce`, so a
`tier` is checked against its enum and a `last_order_at` becomes a UTC
instant whichever format it came in.  Failures raise `Bad` with a reason a
person can act on.
"""
from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from typing import Any

from fsl.config import FieldType
from fsl.diagnostics.core import did_you_mean
from fsl.timecalc import parse_instant

MAX_TEXT = 100_000  # characters in one value
TRUE = frozenset({"true", "yes", "1"})
FALSE = frozenset({"false", "no", "0"})
_INT = re.compile(r"^[+-]?\d+$")


class Bad(ValueError):
    """A value that does not fit its field; str() is the reason."""


def is_empty(value: Any, text: bool) -> bool:
    return value is None or (text and isinstance(value, str) and not value.strip())


def coerce(ftype: FieldType, value: Any, what: str, text: bool = False) -> Any:
    """`value` as `ftype`; `text` when it came from a CSV cell.  Raises Bad."""
    if is_empty(value, text):
        if ftype.optional:
            return None
        if ftype.kind == "list" and text:
            return []
        raise Bad(f"{what} needs a value (the field is not optional)")
    if text and isinstance(value, str):
        value = value.strip()
    kind = ftype.kind
    if kind == "string":
        return _string(value, what)
    if kind == "number":
        return _number(value, what)
    if kind == "integer":
        return _integer(value, what)
    if kind == "bool":
        return _bool(value, what)
    if kind == "date":
        return _date(value, what)
    if kind == "datetime":
        return _datetime(value, what)
    if kind == "enum":
        return _enum(ftype, value, what)
    if kind == "list":
        return _list(value, what)
    raise Bad(f"{what}: unsupported field type {ftype}")  # pragma: no cover


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
    t = parse_instant(value.strip() if isinstance(value, str) else value) if isinstance(value, (str, datetime)) else None
    if t is None:
        raise Bad(f"{what}: expected an ISO 8601 instant such as 2026-11-23T14:00:00Z, got {_show(value)}")
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


def _list(value: Any, what: str) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise Bad(f"{what}: a list starting with [ must be JSON, such as [\"a\", \"b\"]") from None
            if isinstance(parsed, list):
                return parsed
        return [part.strip() for part in text.split(";") if part.strip()]
    raise Bad(f"{what}: expected a list (JSON [..] or a;b;c), got {_show(value)}")
