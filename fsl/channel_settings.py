"""The settings of each channel adapter (CONFIG.md `channels:`): one strict model per adapter.

fsl.yaml's `channels.NAME` mapping is validated here once, when the project
file is loaded; the adapters read the resulting frozen models and never look
at the raw YAML again, so what `fsl check` accepts is exactly what a send
uses.  Unknown keys are errors (`extra="forbid"`: `form:` is not `from:`),
values are typed (`port: "twenty-five"` is not a port), and `from` (smtp)
and `url` (webhook) are required.  `validate_settings` turns pydantic's
errors into problems with the path of the offending key and a did-you-mean,
which config.py places at a line and column of fsl.yaml.

Values arrive after `${ENV}` substitution; an unset variable arrives as
none and means "not known yet": the setting keeps its default (a required
one is accepted, and the adapter reports it at send time).
"""
from __future__ import annotations

from dataclasses import dataclass
from email.utils import getaddresses
from typing import Annotated, Any, Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from fsl.diagnostics.core import did_you_mean
from fsl.durations import parse_duration

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def _flag(value: Any) -> Any:
    """true/false, also as text from `${ENV}` (`on`, `yes`, `1`...); anything else is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false (on/off, yes/no)")


def _seconds(value: Any) -> Any:
    """A positive number of seconds, or a duration such as `30 seconds`, `5 minutes`, `1h`."""
    # Messages never quote the value: it may come from ${ENV}; config.py adds the text as written.
    expected = "expected a positive duration such as '30 seconds', '5 minutes' or a number of seconds"
    if isinstance(value, bool):
        raise ValueError(expected)
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(expected)
        return float(value)
    if isinstance(value, str):
        try:
            seconds = parse_duration(value).nominal_seconds()
        except ValueError:
            raise ValueError(expected) from None
        if not seconds:
            raise ValueError(expected + " (not business days)")
        return float(seconds)
    raise ValueError(expected)


Flag = Annotated[bool, BeforeValidator(_flag)]
Seconds = Annotated[float, BeforeValidator(_seconds)]
Text = Annotated[str, Field(min_length=1)]


class _Settings(BaseModel):
    """Strict, frozen settings; a none value (an unset `${ENV}`) takes the default."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # `from_:` in fsl.yaml is not `from:`

    @model_validator(mode="before")
    @classmethod
    def _unset_takes_default(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        required = {f.alias or n for n, f in cls.model_fields.items() if f.is_required()}  # none: unset ${ENV}
        return {k: v for k, v in data.items() if v is not None or k in required}


class RetrySettings(_Settings):
    """`retry:` of a channel (RUNTIME.md 5): backoff 30 s x4 up to 1 h, 5 attempts."""

    max_attempts: int = Field(default=5, ge=1, le=1000)
    base: Seconds = 30.0
    factor: float = Field(default=4.0, ge=1.0, le=100.0)
    cap: Seconds = 3600.0
    jitter: float = Field(default=0.1, ge=0.0, le=1.0)


class _ChannelSettings(_Settings):
    """What every adapter accepts: how retries back off, and which contact field addresses a message."""

    retry: RetrySettings = Field(default_factory=RetrySettings)
    recipient_field: Text | None = None

    @property
    def sender(self) -> str | None:
        """The `From` address the channel sends as (smtp only)."""
        return None


OWNER = "owner"  # `from: owner`: each message from the contact's owner (CONSOLE.md)


class SmtpSettings(_ChannelSettings):
    """`adapter: smtp` (delivery/channels/smtp.py)."""

    host: Text = "localhost"
    port: int | None = Field(default=None, ge=1, le=65535)  # none: 465 with ssl, else 25
    from_: str | None = Field(alias="from")  # required; none only while its ${ENV} is unset; or `owner`
    fallback_from: str | None = None  # with `from: owner`: the sender of contacts without an owner (CONSOLE.md)
    reply_to: Text | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)  # a secret: never in a repr
    starttls: Flag = False
    ssl: Flag = False
    tls_verify: Flag = True
    ca_file: Text | None = None
    local_hostname: Text | None = None
    timeout: Seconds = 30.0
    tracking: Flag = False  # v1.1 SIGNALS.md: tracked links and open pixel

    @field_validator("from_", "fallback_from")
    @classmethod
    def _address(cls, value: str | None, info: Any) -> str | None:
        if info.field_name == "from_" and value == OWNER:
            return value
        if value is not None and not any("@" in addr for _, addr in getaddresses([value])):
            raise ValueError('expected an address such as "Ana Ruiz <ana@acme.example>"'
                             + (" or `owner`" if info.field_name == "from_" else ""))
        return value

    @model_validator(mode="after")
    def _coherent(self) -> "SmtpSettings":
        if self.ssl and self.starttls:
            raise ValueError("`ssl` (implicit TLS, port 465) and `starttls` exclude each other; keep one")
        if self.from_ == OWNER and not self.fallback_from:
            raise ValueError("`from: owner` needs `fallback_from`: the address of messages to contacts without "
                             "an owner (and the envelope sender of every message)")
        return self

    @property
    def sends_as_owner(self) -> bool:
        return self.from_ == OWNER

    @property
    def sender(self) -> str | None:
        """The channel's own address: `from`, or `fallback_from` with `from: owner`."""
        return self.fallback_from if self.from_ == OWNER else self.from_

    @property
    def effective_port(self) -> int:
        return self.port if self.port is not None else (465 if self.ssl else 25)


class WebhookSettings(_ChannelSettings):
    """`adapter: webhook` (delivery/channels/webhook.py)."""

    url: str | None  # required; none only while its ${ENV} is unset
    token: str | None = Field(default=None, repr=False)
    headers: dict[str, str | None] = Field(default_factory=dict, repr=False)
    timeout: Seconds = 10.0

    @model_validator(mode="after")
    def _http_url(self) -> "WebhookSettings":
        if self.url is not None:
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                # the url may embed a token: name what is wrong, never the url itself
                raise ValueError("`url` must be an http:// or https:// address")
        return self


class StoredSettings(_ChannelSettings):
    """`adapter: task`, `notify` or `log`: nothing to connect to."""


SETTINGS_MODELS: Mapping[str, type[SmtpSettings] | type[WebhookSettings] | type[StoredSettings]] = {
    "smtp": SmtpSettings, "webhook": WebhookSettings, "task": StoredSettings, "notify": StoredSettings,
    "log": StoredSettings,
}

ChannelSettings = SmtpSettings | WebhookSettings | StoredSettings


@dataclass(frozen=True)
class SettingProblem:
    """One invalid setting: `path` of keys below the channel (empty: the channel as a whole)."""

    path: tuple[str | int, ...]
    message: str
    help: str | None = None
    at_value: bool = False  # point at the value rather than the key
    show_value: bool = False  # the value as written may be quoted (never a secret's)


# Settings whose values are secrets: a message never quotes them, even as written.
SECRET_KEYS: frozenset[str] = frozenset({"password", "token", "headers"})


def required_keys(adapter: str) -> tuple[str, ...]:
    """The settings `adapter` cannot do without (`from` of smtp, `url` of webhook)."""
    model = SETTINGS_MODELS[adapter]
    return tuple(f.alias or n for n, f in model.model_fields.items() if f.is_required())


def settings_for(adapter: str, data: Mapping[str, Any]) -> ChannelSettings:
    """The validated settings model of `adapter`; raises pydantic's ValidationError."""
    return SETTINGS_MODELS[adapter].model_validate(dict(data))


def validate_settings(adapter: str, channel: str, data: Mapping[str, Any]) -> tuple[
        ChannelSettings | None, list[SettingProblem]]:
    """(settings, []) or (None, problems), each problem at the key it concerns."""
    try:
        return settings_for(adapter, data), []
    except ValidationError as exc:
        model = SETTINGS_MODELS[adapter]
        return None, [_problem(model, adapter, channel, err) for err in exc.errors(include_url=False)]


def _problem(model: type[BaseModel], adapter: str, channel: str, err: Mapping[str, Any]) -> SettingProblem:
    path = tuple(err.get("loc") or ())
    owner, where = _owner(model, path[:-1])
    key = str(path[-1]) if path else ""
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        allowed = _keys(owner) if owner is not None else ()
        guess = did_you_mean(key, allowed)
        return SettingProblem(path, f"unknown setting `{key}` in {where(channel, adapter)}; expected one of "
                              f"{', '.join(allowed)}", f"did you mean `{guess}`?" if guess else None)
    if kind == "missing":
        return SettingProblem(path[:-1], f"{where(channel, adapter)} needs `{key}`", _MISSING_HELP.get(key))
    message = str(err.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    if not path:  # a rule on the channel as a whole (ssl with starttls)
        return SettingProblem(path, f"{where(channel, adapter)}: {message}")
    what = ".".join(str(p) for p in path)
    return SettingProblem(path, f"`{what}` of channel `{channel}`: {message[:1].lower()}{message[1:]}",
                          at_value=True, show_value=str(path[0]) not in SECRET_KEYS)


_MISSING_HELP = {
    "from": 'add `from: "Name <name@example.com>"`: the address every email of this channel is sent as',
    "url": "add `url: https://...`: where every message of this channel is posted",
}


def _owner(model: type[BaseModel], path: tuple) -> tuple[type[BaseModel] | None, Any]:
    """The model holding the last key of `path`, and how to name it in a message."""
    current: type[BaseModel] | None = model
    names: list[str] = []
    for part in path:
        field = current.model_fields.get(str(part)) if current is not None else None
        annotation = getattr(field, "annotation", None) if field is not None else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        names.append(str(part))
    if names:
        return current, lambda ch, ad: f"`{'.'.join(names)}` of channel `{ch}`"
    return current, lambda ch, ad: f"channel `{ch}` ({ad})"


def _keys(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys a model accepts, the adapter's own before those every channel has."""
    common = _ChannelSettings.model_fields if issubclass(model, _ChannelSettings) else {}
    names = [n for n in model.model_fields if n not in common] + list(common)
    return tuple(model.model_fields[n].alias or n for n in names)
