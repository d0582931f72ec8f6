"""Amazon SNS message signatures, for SES events delivered over SNS (SIGNALS.md 2).

Per docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html:
the string to sign is `Name\\nvalue\\n` for each signed field in byte order of
name (Notification: Message, MessageId, Subject if present, Timestamp,
TopicArn, Type; SubscriptionConfirmation and UnsubscribeConfirmation:
Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type); the
base64 `Signature` is RSA PKCS#1 v1.5 over it with SHA1 (`SignatureVersion`
1) or SHA256 (2), checked against the public key of the X.509 certificate at
`SigningCertURL`.

That URL is a claim of the sender, so it is checked before anything is
fetched: https, host exactly `sns.<region>.amazonaws.com`, no port, no user,
a path ending `.pem`. Anything else is refused without a request. The
certificate is obtained through `CertificateCache` (fetcher injectable, one
fetch per URL) and must be valid now. Its trust rests on the host check and
the TLS connection to that AWS host.
"""
from __future__ import annotations

import base64
import binascii
import re
import threading
from datetime import datetime
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .common import BadSignature

_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d\.amazonaws\.com")
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_HASH = {"1": hashes.SHA1, "2": hashes.SHA256}


def certificate_url_allowed(url: Any) -> bool:
    """Whether a SigningCertURL names a certificate on an SNS host (the only place one is fetched from)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (parts.scheme == "https" and parts.hostname is not None and _HOST.fullmatch(parts.netloc) is not None
            and port is None and parts.path.endswith(".pem") and not parts.query and not parts.fragment)


def fetch_https(url: str) -> bytes:
    """The default fetcher: a GET over verified TLS, short timeout, no redirects."""
    import httpx  # only when a certificate is actually fetched

    response = httpx.get(url, timeout=10.0, follow_redirects=False)
    response.raise_for_status()
    return response.content


class CertificateCache:
    """Signing certificates by URL: fetched once (through `fetch`), then kept.

    Tests pass a `fetch` returning their own certificate; production uses
    `fetch_https`. A URL that fails `certificate_url_allowed` never reaches `fetch`.
    """

    def __init__(self, fetch: Callable[[str], bytes] = fetch_https) -> None:
        self._fetch = fetch
        self._certs: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> x509.Certificate:
        if not certificate_url_allowed(url):
            raise BadSignature("SigningCertURL is not an Amazon SNS certificate URL")
        with self._lock:
            cert = self._certs.get(url)
        if cert is None:
            try:
                cert = x509.load_pem_x509_certificate(self._fetch(url))
            except Exception as e:  # noqa: BLE001 - any failure to get the certificate refuses the request
                raise BadSignature(f"the signing certificate could not be obtained ({type(e).__name__})") from None
            with self._lock:
                self._certs[url] = cert
        return cert


DEFAULT_CERTIFICATES = CertificateCache()


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    kind = message.get("Type")
    if kind not in _SIGNED:
        raise BadSignature(f"unknown SNS message type {kind!r}")
    out = []
    for name in _SIGNED[kind]:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise BadSignature(f"SNS field {name} is missing")
        out.append(f"{name}\n{value}\n")
    return "".join(out).encode("utf-8")


def verify_message(message: Mapping[str, Any], now: datetime, certificates: CertificateCache) -> None:
    algorithm = _HASH.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise BadSignature("unsupported SignatureVersion")
    signed = string_to_sign(message)
    try:
        signature = base64.b64decode(str(message.get("Signature") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("the signature is not base64") from None
    cert = certificates.get(message.get("SigningCertURL"))  # type: ignore[arg-type]
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise BadSignature("the signing certificate is not valid now")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadSignature("the signing certificate does not hold an RSA key")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        raise BadSignature("the signature does not match") from None
