"""The `inbox:` block of fsl.yaml (CONFIG.md, SIGNALS.md 3): the IMAP mailbox replies arrive in.

Validated when the project file is loaded, like `server:` (server_settings.py):
unknown keys are errors, values typed, each problem placed at its line in
fsl.yaml by config.py.  `password` is a secret: never in a repr or a message.
It lives beside config.py (not in fsl/inbox/) because config.py, low in the
layer order, reads it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, ValidationError, field_validator

from fsl.channel_settings import Seconds, Text, _Settings
from fsl.diagnostics.core import did_you_mean

SECRETS = frozenset({"password"})


class InboxSettings(_Settings):
    host: Text
    port: int | None = Field(None, ge=1, le=65535)  # default: 993 with tls on, else 143
    tls: Literal["on", "starttls", "off"] = "on"
    ca_file: Path | None = None  # relative to fsl.yaml (resolved by config.py)
    username: Text
    password: str | None = Field(None, repr=False)
    folder: Text = "INBOX"
    processed_folder: Text | None = None
    timeout: Seconds = 30.0  # seconds a connection or command may take
    idle: Seconds = 25.0  # seconds `fsl inbox` waits in IDLE before it looks again

    @field_validator("tls", mode="before")
    @classmethod
    def _yaml_flag(cls, value: Any) -> Any:
        # `tls: on` is a boolean to a YAML 1.1 reader: take it as written
        if value is True:
            return "on"
        if value is False:
            return "off"
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "on" else 143)


def validate_inbox(data: Mapping[str, Any]) -> tuple[InboxSettings | None, list[tuple[tuple, str, bool, bool]]]:
    """(settings, []) or (None, [(path, message, quote_value, at_value)])."""
    try:
        return InboxSettings.model_validate(dict(data)), []
    except ValidationError as exc:
        return None, [_problem(err) for err in exc.errors(include_url=False)]


def _problem(err: Mapping[str, Any]) -> tuple[tuple, str, bool, bool]:
    path = tuple(err.get("loc") or ())
    key = str(path[-1]) if path else ""
    where = "`inbox." + ".".join(str(p) for p in path) + "`"
    if err.get("type") == "extra_forbidden":
        allowed = tuple(InboxSettings.model_fields)
        guess = did_you_mean(key, allowed)
        hint = f" (did you mean `{guess}`?)" if guess else ""
        return path, f"unknown setting {where}; expected one of {', '.join(allowed)}{hint}", False, False
    if err.get("type") == "missing":
        return path, f"{where} is required", False, False
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    secret = bool(path) and str(path[0]) in SECRETS
    return path, f"{where}: {message[:1].lower()}{message[1:]}", not secret, True
