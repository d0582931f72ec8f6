"""Instants as a person reads them, for the human output of `status`,
`explain`, `tasks` and `report` (JSON stays UTC, `...Z`).

The zone is the contact's for a contact's timeline (`fsl explain`), else
`--tz` or the project's `timezone` (CONFIG.md).
"""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from fsl.timecalc import get_zone

UTC_ZONE = ZoneInfo("UTC")


def zone_of(*names: object) -> ZoneInfo:
    """The first valid IANA zone among `names` (a contact's `timezone`, the
    project's, ...), else UTC: a bad zone in the data never stops a listing."""
    for name in names:
        zone = get_zone(name)
        if zone is not None:
            return zone
    return UTC_ZONE


def local(t: datetime | str | None, zone: ZoneInfo) -> str:
    """'2026-11-24 10:00 EST'; an ISO text (as the JSON holds) is read first;
    None (or text that is no instant, kept as it is) is returned readable."""
    if t is None:
        return "-"
    if isinstance(t, str):
        try:
            parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            return t
        t = parsed
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
