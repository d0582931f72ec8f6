"""The `server:` block of fsl.yaml (CONFIG.md "Signals"): what `fsl serve` needs.

Validated once when the project file is loaded, like the channels'
settings (fsl/channel_settings.py, whose strict base it shares): unknown
keys are errors, values are typed, and config.py places each problem at a
line and column of fsl.yaml.  `secret`, `secrets_old` and `events_token`
are secrets: never in a repr, never quoted in a message.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Mapping

from pydantic import Field, ValidationError, field_validator
from urllib.parse import urlsplit

from fsl.channel_settings import Seconds, Text, _Settings
from fsl.diagnostics.core import did_you_mean

SECRETS = frozenset({"secret", "secrets_old", "events_token"})


class MachineSettings(_Settings):
    """`server.machine`: evidence that a hit is a machine's, not a person's."""

    after_delivery: Seconds = 30.0
    # the lists of known scanners and proxies, instead of fsl/signals/data/machines.yaml
    # (relative to fsl.yaml): updated without a release of fsl
    lists: Text | None = None


class ServerSettings(_Settings):
    """`server:` (SIGNALS.md sections 1 and 2)."""

    base_url: Text | None = None  # the public address tracking links use
    listen: Text = "127.0.0.1:8080"
    secret: str | None = Field(None, min_length=16, repr=False)  # signs tracking tokens
    secrets_old: list[str] = Field(default_factory=list, repr=False)  # still accepted while rotating
    events_token: str | None = Field(None, min_length=16, repr=False)  # bearer of POST /hooks/events
    forwarded_allow_ips: list[str] = Field(default_factory=list)
    machine: MachineSettings = Field(default_factory=MachineSettings)
    max_body: int = Field(1_000_000, ge=1024, le=100_000_000)  # bytes a request body may hold
    session_idle: Seconds = 8 * 3600.0  # the console's sessions end after this long without a request

    @field_validator("secrets_old", mode="before")
    @classmethod
    def _unset_old(cls, value: Any) -> Any:
        # an old secret whose ${ENV} is unset is simply not accepted any more
        return [v for v in value if v is not None] if isinstance(value, list) else value

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("expected an http:// or https:// address such as https://t.acme.example")
        return value.rstrip("/") if value is not None else None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError("expected IP addresses or networks such as 127.0.0.1 or 10.0.0.0/8") from None
        return value


def split_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) as (host, port); raises ValueError."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected HOST:PORT such as 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def validate_server(data: Mapping[str, Any]) -> tuple[ServerSettings | None, list[tuple[tuple, str, bool, bool]]]:
    """(settings, []) or (None, [(path, message, quote_value, at_value)]): each problem at the key it concerns."""
    try:
        return ServerSettings.model_validate(dict(data)), []
    except ValidationError as exc:
        return None, [_problem(err) for err in exc.errors(include_url=False)]


def _problem(err: Mapping[str, Any]) -> tuple[tuple, str, bool, bool]:
    path = tuple(err.get("loc") or ())
    key = str(path[-1]) if path else ""
    where = "`server." + ".".join(str(p) for p in path) + "`"
    if err.get("type") == "extra_forbidden":
        allowed = tuple(MachineSettings.model_fields if path[:1] == ("machine",) else ServerSettings.model_fields)
        guess = did_you_mean(key, allowed)
        hint = f" (did you mean `{guess}`?)" if guess else ""
        return path, f"unknown setting {where}; expected one of {', '.join(allowed)}{hint}", False, False
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    secret = bool(path) and str(path[0]) in SECRETS
    return path, f"{where}: {message[:1].lower()}{message[1:]}", not secret, True
