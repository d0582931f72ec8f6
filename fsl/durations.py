"""Durations: an integer amount of one unit (LANGUAGE.md section 2, CONFIG.md).

Shared by the project-file loader and the language parser, so this module has
no dependencies beyond the standard library.  Only seconds, minutes and hours
have a fixed length; days and weeks are calendar-local (the same wall-clock
time N days later) and business days skip weekends and holidays, so the
runtime computes those against a calendar rather than adding seconds here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["seconds", "minutes", "hours", "days", "weeks", "business_days"]

UNITS: tuple[str, ...] = ("seconds", "minutes", "hours", "days", "weeks", "business_days")

# Every spelling accepted after the number -> canonical unit: the language's
# (LANGUAGE.md section 2: singular, plural, m h d w), plus seconds (CONFIG.md)
# and the usual abbreviations.  The one table for fsl.yaml, playbooks and the
# engine's time arithmetic (timecalc.add_duration), so they accept the same.
_SPELLINGS: dict[str, str] = {
    **{unit: unit for unit in UNITS},  # the canonical names, as plans carry them
    "s": "seconds", "sec": "seconds", "secs": "seconds", "second": "seconds", "seconds": "seconds",
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "h": "hours", "hour": "hours", "hours": "hours",
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "week": "weeks", "weeks": "weeks",
    "business day": "business_days", "business days": "business_days",
}

_FIXED: dict[str, int] = {"seconds": 1, "minutes": 60, "hours": 3600}
# Lengths assuming 24-hour days; business days have none (their length depends on the calendar).
NOMINAL_SECONDS: dict[str, int] = {**_FIXED, "days": 86400, "weeks": 7 * 86400}

_PATTERN = re.compile(r"^\s*(-?\d+)\s*([a-z]+(?:\s+[a-z]+)?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Duration:
    """An amount of a unit, kept as written so plans and messages stay readable."""

    amount: int
    unit: Unit

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unknown duration unit {self.unit!r}; expected one of {', '.join(UNITS)}")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError(f"a duration amount must be an integer, not {self.amount!r}")
        if self.amount < 0:
            raise ValueError("a duration cannot be negative")

    def __str__(self) -> str:
        """Canonical text: `1 day`, `2 days`, `3 business days`, `30 minutes`."""
        word = self.unit.replace("_", " ")
        if self.amount == 1:
            word = word[:-1]
        return f"{self.amount} {word}"

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    def fixed_seconds(self) -> int | None:
        """Length in seconds for absolute units; None for calendar-local ones."""
        factor = _FIXED.get(self.unit)
        return None if factor is None else self.amount * factor

    def nominal_seconds(self) -> int | None:
        """Length assuming 24-hour days (for rolling cap windows and estimates).

        None for business days, whose length depends on the calendar.
        """
        factor = NOMINAL_SECONDS.get(self.unit)
        return None if factor is None else self.amount * factor


def normalize_unit(unit: str) -> Unit:
    """The canonical unit a spelling names (`min`, `hours`, `business day`, `business_days`)."""
    try:
        word = unit if unit in _SPELLINGS else re.sub(r"\s+", " ", unit.strip().lower())
        return _SPELLINGS[word]  # type: ignore[return-value]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown duration unit {unit!r}") from None


def parse_duration(text: str) -> Duration:
    """Parse `7 days`, `1 day`, `30 seconds`, `3 business days`, `30m`, `4h`, `2d`, `1w`, `30s`.

    Raises ValueError with a message saying what was expected.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '2 days' or '30 minutes', got {text!r}")
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(
            f"expected a duration such as '2 days', '30 minutes' or '4h', got {text.strip()!r}"
        )
    number = match.group(1)
    try:
        unit = normalize_unit(match.group(2))
    except ValueError:
        raise ValueError(
            f"unknown duration unit {match.group(2)!r}; expected seconds, minutes, hours, days, "
            "weeks or business days (or s, m, h, d, w)"
        ) from None
    amount = int(number)
    if amount < 0:
        raise ValueError(f"a duration cannot be negative: {text.strip()!r}")
    return Duration(amount, unit)
