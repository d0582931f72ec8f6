"""The template context of one action (CONFIG.md, "Templates").

Every template sees `contact`, `deal` and `stakeholder` (none without a
deal), `offer` (none unless the step attached one), `links`, `vars` and the
`with` values.  Two choices keep StrictUndefined useful rather than brittle:

* Every field the schema declares is present, as none when the data lacks it,
  so `{{ contact.last_name or "" }}` works for a contact without a last name
  while a misspelt `contact.frist_name` still fails the render.
* Instants are shown in the contact's local time zone and print as a date
  (`2026-11-30`), which is what "valid until {{ offer.expires }}" means to a
  reader; they remain datetimes, so `.strftime(...)` and `.hour` still work.
"""
from __future__ import annotations

import zoneinfo
from collections import abc
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Mapping

from fsl.config import BUILTIN_FIELDS, Config
from fsl.engine.model import ActionRecord, Contact, Deal
from fsl.timecalc import iso

UTC = timezone.utc
RESERVED = ("contact", "deal", "stakeholder", "offer", "links", "vars", "unsubscribe_url", "owner")  # as fsl.llm.render


class LocalInstant(datetime):
    """An instant in the contact's time zone whose text is its local date."""

    def __str__(self) -> str:
        return self.date().isoformat()

    def __html__(self) -> str:  # markupsafe: escaping an ISO date is a no-op
        return str(self)


def contact_zone(contact: Contact, config: Config | None) -> tzinfo:
    """The contact's `timezone` if valid, else the project default, else UTC."""
    for name in (contact.fields.get("timezone"), config.timezone if config is not None else None):
        if isinstance(name, str) and name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


# Values that localize() and jsonable() hand back unchanged (exact types only:
# a subclass of str or int takes the general path).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def localize(value: Any, zone: tzinfo) -> Any:
    """Aware datetimes (also inside lists and dicts) as LocalInstant in `zone`."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        t = t.astimezone(zone)
        return LocalInstant(t.year, t.month, t.day, t.hour, t.minute, t.second, t.microsecond,
                            tzinfo=t.tzinfo, fold=t.fold)
    if isinstance(value, dict):
        return {k: v if type(v) in _PLAIN else localize(v, zone) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [localize(v, zone) for v in value]
    return value


def _entity(entity: str, fields: Mapping[str, Any], config: Config | None, zone: tzinfo) -> dict[str, Any]:
    declared = config.schema_.fields(entity) if config is not None else dict(BUILTIN_FIELDS[entity])
    out: dict[str, Any] = {name: None for name in declared}
    out.update(fields)
    return localize(out, zone)


def offer_context(offer: Mapping[str, Any] | None, zone: tzinfo) -> dict[str, Any] | None:
    """`{percent, expires}`; a whole percent prints as `10`, not `10.0`."""
    if offer is None:
        return None
    percent = offer.get("percent")
    if isinstance(percent, float) and percent.is_integer():
        percent = int(percent)
    return {"percent": percent, "expires": localize(offer.get("expires"), zone)}


def template_context(record: ActionRecord, contact: Contact, deal: Deal | None, config: Config | None,
                     vars: Mapping[str, Any] | None, owner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context a template (or a task/notify text) of this action renders with.

    `owner` is the contact's owner as a console user (fsl.runtime.owners); without one,
    templates see the channel's own sender as `owner` (name and email; phone and
    signature none), so `{{ owner.name }}` always renders.

    `links` is left out: `render_template` adds the template's own links.
    Raises ValueError when a `with` value would hide a reserved name.
    """
    zone = contact_zone(contact, config)
    stake = deal.stakeholders.get(contact.id) if deal is not None else None
    context: dict[str, Any] = {
        "contact": _entity("contact", {**contact.fields, "id": contact.id}, config, zone),
        "deal": _entity("deal", {**deal.fields, "id": deal.id}, config, zone) if deal is not None else None,
        "stakeholder": _entity("stakeholder", stake, config, zone) if stake is not None else None,
        "offer": offer_context(record.offer, zone),
        "vars": localize(dict(vars or {}), zone),
        "owner": dict(owner) if owner is not None else _channel_owner(record, config),
    }
    values = (record.data or {}).get("with") if record.kind == "send" else None
    for name, value in (values or {}).items():
        if name in RESERVED:
            raise ValueError(f"`with {name}` would hide the template variable `{name}`")
        context[name] = localize(value, zone)
    return context


def jsonable(value: Any) -> Any:
    """Plain JSON data: instants as UTC ISO with Z, dates as YYYY-MM-DD."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (dict, abc.Mapping)):  # dict first: an ABC's isinstance is slow, and this is per message
        return {k if type(k) is str else str(k): v if type(v) in _PLAIN else jsonable(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def _channel_owner(record: ActionRecord, config: Config | None) -> dict[str, Any]:
    from email.utils import parseaddr

    channel = config.channels.get(record.channel or "") if config is not None else None
    sender = getattr(channel.settings, "sender", None) if channel is not None else None
    name, address = parseaddr(sender or "")
    return {"name": name or None, "email": address or None, "phone": None, "signature": None}
