"""Webhook channels: POST the message as JSON (httpx), one client reused.

Settings: `WebhookSettings` (fsl/channel_settings.py), validated when
fsl.yaml is loaded: `url` (required), `token` (sent as `Authorization:
Bearer ...`), `headers` (a mapping of extra headers, e.g. an API key from
`${ENV}`), `timeout` (10 s).  Every request carries `Idempotency-Key` (the
action's key), so a receiver can drop the second copy of a request we
retried after a timeout.

The body: `{"key", "channel", "kind", "to", "subject", "text", "html",
"payload"}` (payload as in OutMessage: playbook, step, contact, deal, ...).

Answers: 2xx delivered; 408, 425, 429 and 5xx retry (honouring
`Retry-After`, seconds or an HTTP date); other statuses, redirects included,
failed, since sending the same request again would get the same answer.
Timeouts and connection errors retry.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping
from urllib.parse import urlsplit

import httpx

from fsl import __version__
from fsl.channel_settings import WebhookSettings
from fsl.config import Channel
from fsl.redaction import Redactor
from fsl.retrying import retry_after

from ..message import OutMessage
from .base import DeliveryResult, delivered, failed, retry

log = logging.getLogger("fsl.delivery.webhook")

RETRYABLE = frozenset({408, 425, 429})


class WebhookAdapter:
    """Delivers messages by HTTP POST; not thread-safe (one per worker)."""

    def __init__(self, channel: Channel, transport: httpx.BaseTransport | None = None) -> None:
        s = channel.settings
        if not isinstance(s, WebhookSettings):
            raise TypeError(f"channel `{channel.name}` is not a webhook channel")
        self.name = channel.name
        self._url = s.url or None  # none while its ${ENV} is unset: every send fails, said so
        self.timeout = s.timeout
        self._headers = _headers(s.headers)
        token = s.token
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self.redact = Redactor([token, *self._headers.values(), *_url_secrets(self._url)])
        self._transport = transport
        self._client: httpx.Client | None = None

    def deliver(self, msg: OutMessage) -> DeliveryResult:
        if not self._url:
            return failed(f"channel `{self.name}` has no `url`")
        headers = {**self._headers, "Idempotency-Key": msg.key, "Content-Type": "application/json",
                   "User-Agent": f"fsl/{__version__}"}
        body = {"key": msg.key, "channel": msg.channel, "kind": msg.kind, "to": msg.to, "subject": msg.subject,
                "text": msg.text, "html": msg.html, "payload": msg.payload}
        data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        try:
            response = self._http().post(self._url, content=data, headers=headers)
        except httpx.TimeoutException:
            return retry(f"no answer within {self.timeout:g} s")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            return failed(f"channel `{self.name}` has an unusable `url`")
        except httpx.TransportError as exc:
            return retry(self.redact(f"connection error: {type(exc).__name__}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a delivery problem never escapes an adapter
            log.warning("channel %s: unexpected %s", self.name, type(exc).__name__)
            return retry(self.redact(f"unexpected {type(exc).__name__}: {exc}"))
        return self._classify(response)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout, follow_redirects=False, transport=self._transport)
        return self._client

    def _classify(self, response: httpx.Response) -> DeliveryResult:
        code = response.status_code
        if 200 <= code < 300:
            return delivered(f"HTTP {code}")
        snippet = _snippet(response)
        detail = self.redact(f"HTTP {code}" + (f": {snippet}" if snippet else ""))
        if code in RETRYABLE or 500 <= code < 600:
            return retry(detail, retry_after(response.headers))
        if 300 <= code < 400:
            return failed(f"HTTP {code}: the url redirects; set the channel's url to the final address")
        return failed(detail)


def _headers(raw: Any) -> dict[str, str]:
    """Configured headers; a value whose `${ENV}` is unset (none) is left out."""
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v is not None and str(k).strip()}


def _url_secrets(url: str | None) -> list[str]:
    """Parts of a URL that may carry a secret (Slack-style paths, `?token=`, a password)."""
    if not url:
        return []
    parts = urlsplit(url)
    out = [url]
    if parts.password:
        out.append(parts.password)
    if parts.query:
        out.append(parts.query)
    if parts.path and len(parts.path) > 1:
        out.append(parts.path)
    return out


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - an undecodable body is not worth a failure
        return ""
    return " ".join(text.split())[:limit]
