"""Number formatting shared by the terminal tables and the HTML page, so a
figure reads the same in both."""
from __future__ import annotations

DASH = "—"


def pct(x: float | None, digits: int = 0) -> str:
    """0.4 -> "40%"; None (no denominator) -> a dash."""
    if x is None:
        return DASH
    return f"{x * 100:.{digits}f}%"


def duration_hours(h: float | None) -> str:
    """Hours as a short duration: "45m", "6h", "2d 3h"."""
    if h is None:
        return DASH
    minutes = round(h * 60)
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes / 60
    if hours < 48:
        return f"{hours:.0f}h" if hours == int(hours) else f"{hours:.1f}h"
    days, rest = divmod(round(hours), 24)
    return f"{days}d {rest}h" if rest else f"{days}d"


def days(d: float | None) -> str:
    return DASH if d is None else f"{d:.1f} d"


def money(x: float | None) -> str:
    if x is None:
        return DASH
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def by_key(d: dict[str, int]) -> str:
    """{"email": 9, "sms": 1} -> "email 9 · sms 1"."""
    return " · ".join(f"{k} {v}" for k, v in d.items()) if d else DASH


def of(n: int, d: int) -> str:
    """A count and its share: "3 (60%)"."""
    return f"{n} ({pct(n / d)})" if d else str(n)
