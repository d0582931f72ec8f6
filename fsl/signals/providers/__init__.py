"""Provider webhook adapters (SIGNALS.md 2): one module per provider, each with
`verify(headers, body, settings, now)` (raises `BadSignature`: answer 401) and
`parse(body) -> Parsed` (never raises); `match` finds the outbox row an event
concerns. A pure library: no web framework, no store writes."""
from __future__ import annotations

from types import ModuleType

from . import mailgun, postmark, sendgrid, ses, sns
from .common import EVENT_TYPES, BadSignature, ItemError, Parsed, ProviderEvent, match

ADAPTERS: dict[str, ModuleType] = {"sendgrid": sendgrid, "mailgun": mailgun, "postmark": postmark, "ses": ses}

__all__ = ["ADAPTERS", "mailgun", "postmark", "sendgrid", "ses", "sns", "EVENT_TYPES", "BadSignature", "ItemError", "Parsed", "ProviderEvent", "match"]
