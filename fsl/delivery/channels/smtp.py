"""Email over SMTP (smtplib), one connection reused across messages.

Settings: `SmtpSettings` (fsl/channel_settings.py), validated when fsl.yaml
is loaded: `host` (localhost), `port` (25, or 465 with `ssl: true`), `from`
(required), `starttls`, `ssl`, `username` + `password`, `timeout` (30 s),
`reply_to`, `tls_verify` (true), `ca_file` (a CA bundle for a private relay),
`local_hostname`.

How failures are classified:

* the session (connect, EHLO, STARTTLS, login, a dropped connection, a
  timeout) -> retry: nothing is wrong with *this* message, and an operator
  can fix a wrong password or a firewall while the retries wait;
* a reply about this message (sender, recipient or data refused): 4xx ->
  retry, 5xx -> failed, the server's permanent answer; except 530
  (authentication or STARTTLS required), which is about the session;
  a refusal of the recipient (RCPT) or of the data (DATA) carries the
  server's reply, which makes it a bounce (fsl.delivery.verdict) -- but not
  421 (the server closing the session) nor a refused sender (our `from`);
* an accepted message carries the final reply to DATA (`250 Ok: queued as
  4BXY...`), the provider's reference that the outbox keeps;
* a message that cannot be built (no recipient, a header with a newline in
  it) -> failed.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from fsl.channel_settings import SmtpSettings
from fsl.config import Channel
from fsl.redaction import Redactor

from ..address import one_address
from ..message import OutMessage, domain_of, message_id
from .base import DeliveryResult, delivered, failed, retry

log = logging.getLogger("fsl.delivery.smtp")


class _Session(Exception):
    """A failure of the session, not of one message: always worth a retry."""


class _Replies:
    """Keeps the server's final reply to DATA, which smtplib's sendmail drops."""

    data_reply: tuple[int, bytes] | None = None

    def data(self, msg):
        self.data_reply = None
        answer = super().data(msg)  # type: ignore[misc]
        self.data_reply = answer
        return answer


class _SMTP(_Replies, smtplib.SMTP):
    pass


class _SMTP_SSL(_Replies, smtplib.SMTP_SSL):
    pass


class SmtpAdapter:
    """Delivers `send` messages as email; not thread-safe (one per worker)."""

    def __init__(self, channel: Channel) -> None:
        s = channel.settings
        if not isinstance(s, SmtpSettings):
            raise TypeError(f"channel `{channel.name}` is not an smtp channel")
        self.name = channel.name
        self.use_ssl = s.ssl
        self.starttls = s.starttls
        self.host = s.host
        self.port = s.effective_port
        self.sender = s.sender or None  # none while its ${ENV} is unset: every send fails, said so
        self.as_owner = s.sends_as_owner  # `from: owner`: the message's From header (compose_send) wins
        self.reply_to = s.reply_to
        self.username = s.username or None
        self._password = s.password
        self.timeout = s.timeout
        self.tls_verify = s.tls_verify
        self.ca_file = s.ca_file
        self.local_hostname = s.local_hostname
        self.domain = domain_of(self.sender)
        secrets = [self._password]
        if self.username and self._password:
            secrets.append(f"\0{self.username}\0{self._password}")  # the AUTH PLAIN credential
        self.redact = Redactor(secrets)
        self._conn: smtplib.SMTP | None = None

    # ------------------------------------------------------------ public
    def deliver(self, msg: OutMessage) -> DeliveryResult:
        try:
            email, recipients = self.build(msg)
        except ValueError as exc:
            return failed(self.redact(f"cannot build the email: {exc}"))
        # the envelope sender (Return-Path) is the reply address when there is one: bounces and
        # automatic replies go to the envelope sender, and the inbox reads that mailbox (SIGNALS.md 3)
        envelope_from = parseaddr(self.reply_to or "")[1] or parseaddr(self.sender or "")[1]
        try:
            return self._send(email, envelope_from, recipients)
        except _Session as exc:
            self.close()
            return retry(self.redact(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a delivery problem never escapes an adapter
            self.close()
            log.warning("channel %s: unexpected %s", self.name, type(exc).__name__)
            return retry(self.redact(f"unexpected {type(exc).__name__}: {exc}"))

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except Exception:  # noqa: BLE001 - closing a broken connection
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    # ------------------------------------------------------------ building
    def build(self, msg: OutMessage) -> tuple[EmailMessage, list[str]]:
        """The email and its envelope recipients; ValueError when it cannot be sent."""
        if not self.sender:
            raise ValueError(f"channel `{self.name}` has no `from` address")
        to = msg.to or msg.payload.get("contact_email")
        if not to:
            raise ValueError(f"no recipient address for contact {msg.payload.get('contact')}")
        recipients = [one_address(to)]  # BadAddress is a ValueError: failed, never two recipients
        email = EmailMessage()
        # `from: owner`: the owner's address in From; the envelope stays the channel's (SPF, bounces)
        email["From"] = msg.headers.get("From") if self.as_owner and msg.headers.get("From") else self.sender
        email["To"] = str(to)
        if msg.subject is not None:
            email["Subject"] = msg.subject
        if self.reply_to:
            email["Reply-To"] = self.reply_to
        email["Message-ID"] = message_id(msg.key, self.domain)
        email["Date"] = format_datetime(datetime.now(timezone.utc).replace(microsecond=0))
        for name, value in msg.headers.items():
            if name not in email:
                email[name] = value
        email.set_content(msg.text)
        if msg.html:
            email.add_alternative(msg.html, subtype="html")
        return email, recipients

    # ------------------------------------------------------------ sending
    def _send(self, email: EmailMessage, envelope_from: str, recipients: list[str]) -> DeliveryResult:
        """Send on the open connection; a reused one the server has dropped
        meanwhile (idle timeout) is replaced once, at once."""
        for again in (False, True):
            reused = self._conn is not None
            conn = self._connection()
            try:
                conn.send_message(email, envelope_from, recipients)
            except smtplib.SMTPServerDisconnected:
                lost, timed_out = "the server closed the connection", False
            except smtplib.SMTPException as exc:  # (a subclass of OSError: keep this order)
                return self._refused(exc)
            except OSError as exc:
                lost, timed_out = f"connection error: {_os_reason(exc)}", isinstance(exc, TimeoutError)
            else:
                return delivered(f"accepted by {self.host}:{self.port} as {email['Message-ID']}",
                                 reply=self._accepted(conn))
            self.close()
            if again or not reused or timed_out:
                raise _Session(lost)
        raise AssertionError("unreachable")  # pragma: no cover

    def _accepted(self, conn: smtplib.SMTP) -> str | None:
        answer = getattr(conn, "data_reply", None)
        return self.redact(f"{answer[0]} {_text(answer[1])}") if answer else None

    def _refused(self, exc: smtplib.SMTPException) -> DeliveryResult:
        """The server's answer about this message: 5xx permanent, anything else temporary."""
        reply = None  # the server's verdict on the recipient or the data: a bounce
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            answers = list(exc.recipients.values())
            code = min((a[0] for a in answers), default=0)  # a 4xx among them: worth retrying
            reply = "; ".join(f"{c} {_text(m)}" for c, m in answers)
            detail = f"recipient refused: {reply}"
        elif isinstance(exc, smtplib.SMTPResponseException):
            code = exc.smtp_code
            sender = isinstance(exc, smtplib.SMTPSenderRefused)
            detail = f"{'sender refused' if sender else 'rejected'}: {code} {_text(exc.smtp_error)}"
            if not sender:  # SMTPDataError: the answer to DATA
                reply = f"{code} {_text(exc.smtp_error)}"
        elif isinstance(exc, smtplib.SMTPNotSupportedError):  # e.g. SMTPUTF8 needed, not offered
            return failed(self.redact(f"the server cannot take this message: {exc}"))
        else:
            self.close()
            return retry(self.redact(f"SMTP error: {exc}"))
        if code == 421 or not 200 <= code < 600:
            self.close()  # 421: the server is closing the session
            reply = None
        if code == 530:  # authentication / STARTTLS required: the session, not this message
            self.close()
            return retry(self.redact(detail + " (check the channel's username, password and starttls)"))
        reply = self.redact(reply) if reply is not None else None
        if 500 <= code < 600:
            return failed(self.redact(detail), reply=reply)
        return retry(self.redact(detail), reply=reply)

    def _connection(self) -> smtplib.SMTP:
        """The open connection, or a new one: connected, EHLO, STARTTLS, logged in."""
        if self._conn is not None:
            return self._conn
        conn: smtplib.SMTP | None = None
        try:
            if self.use_ssl:
                conn = _SMTP_SSL(self.host, self.port, local_hostname=self.local_hostname,
                                        timeout=self.timeout, context=self._tls())
            else:
                conn = _SMTP(self.host, self.port, local_hostname=self.local_hostname,
                                    timeout=self.timeout)
            conn.ehlo()
            if self.starttls:
                conn.starttls(context=self._tls())
                conn.ehlo()
            if self.username:
                conn.login(self.username, self._password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _abandon(conn)
            raise _Session(f"login as {self.username} refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPNotSupportedError as exc:
            _abandon(conn)
            raise _Session(f"the server does not support what the channel asks: {exc}") from None
        except smtplib.SMTPResponseException as exc:
            _abandon(conn)
            raise _Session(f"session refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            _abandon(conn)
            reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
            raise _Session(f"cannot connect to {self.host}:{self.port}: {reason}") from None
        self._conn = conn
        return conn

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _abandon(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
