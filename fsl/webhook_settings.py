"""The `webhooks:` block of fsl.yaml (CONFIG.md "Signals", SIGNALS.md 2): which
providers' events `fsl serve` accepts and how it verifies them.

A provider without its block here has no endpoint: `POST /hooks/{provider}`
answers 404.  Validated when the project file is loaded, like `server:`
(unknown keys are errors, each problem placed at its line and column);
`signing_key` and `password` are secrets: never in a repr, never quoted.

`soft_bounce_after` (decided here, the spec leaves the limit to the config):
how long temporary failures (`deferred`) for one contact's address may go on,
with no delivery in between, before the runtime records `bounced` with
`kind` soft. Default 72 hours: SendGrid, Mailgun and Postmark retry a
deferred message for about that long before they give up.
"""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import Field, ValidationError

from fsl.channel_settings import Seconds, Text, _Settings
from fsl.diagnostics.core import did_you_mean

SECRETS = frozenset({"signing_key", "password"})
PROVIDERS = ("sendgrid", "mailgun", "postmark", "ses")
MAX_AGE = 300.0  # seconds a signed timestamp may be from now before it is refused as stale


class SendgridSettings(_Settings):
    public_key: Text  # base64 DER (as SendGrid shows it) or PEM
    max_age: Seconds = MAX_AGE


class MailgunSettings(_Settings):
    signing_key: str = Field(min_length=1, repr=False)
    max_age: Seconds = MAX_AGE


class PostmarkSettings(_Settings):
    username: Text
    password: str = Field(min_length=8, repr=False)


class SesSettings(_Settings):
    topic_arn: Text
    # a PEM file used instead of fetching SNS's signing certificate (tests, hosts with no way out);
    # relative to fsl.yaml. The SigningCertURL must still be an SNS URL.
    certificate_file: Text | None = None
    confirm_subscriptions: bool = True  # GET the SubscribeURL of a verified SubscriptionConfirmation


class InboundSettings(_Settings):
    """`webhooks.inbound:` (decided here; the spec leaves inbound parse to the config):
    `POST /hooks/inbound/{sendgrid,mailgun,postmark}` take received mail as the inbox does.
    SendGrid's Inbound Parse and Postmark's inbound webhook are not signed: their URL
    carries these basic credentials (https://user:password@host/...). Mailgun's routes
    are verified with `webhooks.mailgun.signing_key`, as its event webhooks are."""

    username: Text
    password: str = Field(min_length=8, repr=False)
    max_bytes: int = Field(40_000_000, ge=1024, le=200_000_000)  # a posted message, attachments included


class WebhookSettings(_Settings):
    """`webhooks:`."""

    sendgrid: SendgridSettings | None = None
    mailgun: MailgunSettings | None = None
    postmark: PostmarkSettings | None = None
    ses: SesSettings | None = None
    inbound: InboundSettings | None = None
    soft_bounce_after: Seconds = 72 * 3600.0

    def provider(self, name: str) -> Mapping[str, Any] | None:
        """The adapters' settings mapping of a configured provider, or None."""
        found = getattr(self, name, None) if name in PROVIDERS else None
        return found.model_dump() if found is not None else None


def validate_webhooks(data: Mapping[str, Any]) -> tuple[WebhookSettings | None, list[tuple[tuple, str, bool, bool]]]:
    """(settings, []) or (None, [(path, message, quote_value, at_value)]), as server_settings does."""
    try:
        return WebhookSettings.model_validate(dict(data)), []
    except ValidationError as exc:
        return None, [_problem(err) for err in exc.errors(include_url=False)]


_MODELS: dict[str, type[_Settings]] = {"sendgrid": SendgridSettings, "mailgun": MailgunSettings,
                                       "postmark": PostmarkSettings, "ses": SesSettings, "inbound": InboundSettings}


def _problem(err: Mapping[str, Any]) -> tuple[tuple, str, bool, bool]:
    path = tuple(err.get("loc") or ())
    key = str(path[-1]) if path else ""
    where = "`webhooks." + ".".join(str(p) for p in path) + "`"
    if err.get("type") == "extra_forbidden":
        model: type[_Settings] = _MODELS.get(str(path[0]), WebhookSettings) if len(path) > 1 else WebhookSettings
        allowed = tuple(model.model_fields)
        guess = did_you_mean(key, allowed)
        hint = f" (did you mean `{guess}`?)" if guess else ""
        return path, f"unknown setting {where}; expected one of {', '.join(allowed)}{hint}", False, False
    if err.get("type") == "missing":
        return path, f"{where} is required", False, False
    if err.get("input", "") is None:  # a required key whose ${ENV} is unset
        return path, f"{where} is not set (is its ${{ENV}} variable unset?)", False, True
    message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    secret = bool(path) and str(path[-1]) in SECRETS
    return path, f"{where}: {message[:1].lower()}{message[1:]}", not secret, True
