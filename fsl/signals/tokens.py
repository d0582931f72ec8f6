"""Signed tracking tokens (SIGNALS.md section 1): what `/c/`, `/o/` and `/u/` URLs carry.

A token names one message by its outbox key (`enrollment:step:iteration:action`,
fsl.store.rows.action_key) and, for a click, the index of the link in that
message's link list.  It holds no contact data: the key is ids and a step name.

    token = make(secret, outbox_key, link_index)          # a click: /c/{token}
    token = make(secret, outbox_key, kind="open")         # the pixel: /o/{token}
    token = make(secret, outbox_key, kind="unsubscribe")  # /u/{token}

This is the call a message rewriter makes for each link it wraps.  The
signature is HMAC-SHA256 (itsdangerous), compared in constant time; the kind
is part of what is signed (the salt), so a click token replayed on `/u/`
does not unsubscribe anyone.  `verify` accepts the current secret and every
old one (rotation: list them in `server.secrets_old`), and answers None for
anything forged, tampered with, truncated or of another kind.
"""
from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterable

from itsdangerous import BadData, URLSafeSerializer

KINDS = ("click", "open", "unsubscribe")


@dataclass(frozen=True)
class Claim:
    """What a valid token says."""

    kind: str
    outbox_key: str
    link_index: int | None


def _serializer(secrets: list[str], kind: str) -> URLSafeSerializer:
    # itsdangerous signs with the last key and verifies with any of them
    return URLSafeSerializer(secrets, salt=f"fsl-{kind}", signer_kwargs={"digest_method": hashlib.sha256})


@functools.lru_cache(maxsize=16)
def _signing(secret: str, kind: str) -> URLSafeSerializer:
    """One serializer per secret and kind: an email's rewrite signs a token per link."""
    return _serializer([secret], kind)


@functools.lru_cache(maxsize=16)
def _verifying(secrets: tuple[str, ...], kind: str) -> URLSafeSerializer:
    """One serializer per key list and kind: `fsl serve` verifies a token per request."""
    return _serializer(list(secrets), kind)


def make(secret: str, outbox_key: str, link_index: int | None = None, *, kind: str = "click") -> str:
    """The token of one link (kind click, link_index required) or of the message (open, unsubscribe)."""
    if kind not in KINDS:
        raise ValueError(f"token kind must be one of {', '.join(KINDS)}")
    if (kind == "click") != (link_index is not None):
        raise ValueError("a click token names a link index; open and unsubscribe tokens do not")
    body = [outbox_key, link_index] if kind == "click" else [outbox_key]
    return _signing(secret, kind).dumps(body)


def verify(token: str, kind: str, secret: str, old: Iterable[str] = ()) -> Claim | None:
    """The claim of a token signed with `secret` or one of `old`, or None."""
    try:
        body = _verifying((*old, secret), kind).loads(token)  # the last key is the current one
    except (BadData, UnicodeError, ValueError):
        return None
    if not isinstance(body, list) or not body or not isinstance(body[0], str):
        return None
    if kind == "click":
        if len(body) != 2 or type(body[1]) is not int or body[1] < 0:
            return None
        return Claim(kind, body[0], body[1])
    return Claim(kind, body[0], None) if len(body) == 1 else None


class Verifier:
    """`verify` with the server's secrets, remembering the tokens it found valid (bounded,
    least recently used dropped): an open pixel is fetched each time the message is shown,
    and a link is followed by scanners and people alike, so the same tokens come back.  A
    token that fails is checked again each time (nothing an attacker sends is kept)."""

    def __init__(self, secret: str, old: Iterable[str] = (), limit: int = 20_000) -> None:
        self._keys = (*old, secret)
        self._valid: OrderedDict[tuple[str, str], Claim] = OrderedDict()
        self._limit = limit

    def verify(self, token: str, kind: str) -> Claim | None:
        found = self._valid.get((token, kind))
        if found is not None:
            self._valid.move_to_end((token, kind))
            return found
        claim = verify(token, kind, self._keys[-1], self._keys[:-1])
        if claim is not None:
            self._valid[(token, kind)] = claim
            if len(self._valid) > self._limit:
                self._valid.popitem(last=False)
        return claim

