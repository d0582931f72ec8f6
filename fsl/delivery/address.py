"""One contact, one address: the check every email recipient passes.

A contact's `email` that says `victim@x.example, evil@attacker.example` is
two envelope recipients to SMTP, so a CRM field (or an `update` event) could
copy every message to a stranger.  The field must hold exactly one address:
`ana@x.example` or `Ana Ruiz <ana@x.example>`, parsed by the standard
library's RFC 5322 header parser (a hand-written parser would disagree with
the SMTP library on some input, which is the hole).  Imports refuse such a
value with its line; delivery refuses it again, for values stored earlier.
"""
from __future__ import annotations

import re
from email.headerregistry import AddressHeader, HeaderRegistry
from typing import cast

_HEADERS = HeaderRegistry()
# The common case, `name@host.example` in dot-atom form, which the header
# parser would accept as exactly one address: taken as is, because the parser
# costs ~100 microseconds an address and an import checks a million.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
# Whether a stripped text is such an address: one_address returns it unchanged (imports test cells with it first).
plain_address = _PLAIN.fullmatch


class BadAddress(ValueError):
    """Not exactly one valid address; str() says why (quoting at most the value given)."""


def one_address(value: object) -> str:
    """The addr-spec (`ana@x.example`) of a value naming exactly one address; raises BadAddress."""
    text = str(value).strip() if value is not None else ""
    if _PLAIN.fullmatch(text):
        return text
    if not text:
        raise BadAddress("no address")
    if "\r" in text or "\n" in text:
        raise BadAddress("an address cannot contain a line break")
    try:
        header = _HEADERS("To", text)
        # typeshed says BaseHeader; the registry's class for "To" is an AddressHeader as well
        to = cast(AddressHeader, header)
        addresses, defects, groups = to.addresses, header.defects, to.groups
    except Exception:  # noqa: BLE001 - the parser raises odd errors (IndexError) on some input
        raise BadAddress(f"{_show(text)} is not an email address") from None
    if len(addresses) > 1:
        raise BadAddress(f"{_show(text)} names {len(addresses)} addresses; a contact has exactly one")
    if any(g.display_name is not None for g in groups):
        raise BadAddress(f"{_show(text)} is a group of addresses; a contact has exactly one")
    if not addresses or defects or not addresses[0].domain or not addresses[0].username:
        raise BadAddress(f"{_show(text)} is not one valid email address such as ana@example.com")
    return addresses[0].addr_spec


def _show(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")
