"""A channel adapter that writes each message as an `.eml` file (the demo's mail sink).

The email is built exactly as the SMTP adapter builds it (same headers, same
Message-ID derived from the idempotency key), then written to
`FOLDER/<channel>/<at>_<contact>_<playbook>_<step>_<key hash>.eml`.  The
name depends only on the key, and the file is written to a temporary name
and renamed, so handing the same message over twice leaves one file: this
sink is idempotent, which is why the outbox may settle its messages a batch
at a time (`settle_each = False`).
"""
from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from fsl.channel_settings import SmtpSettings
from fsl.config import Channel
from .base import DeliveryResult, delivered, failed
from .smtp import SmtpAdapter
from fsl.delivery.message import OutMessage, message_id

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class EmlAdapter:
    settle_each = False

    def __init__(self, folder: Path, channel: Channel) -> None:
        self.folder = Path(folder)
        self.channel = channel
        # Only smtp channels are built by the SMTP adapter (see deliver); others get a stand-in sender.
        sender = channel.settings.sender or "FSL <fsl@example.invalid>"
        own = channel.settings
        settings = (own if isinstance(own, SmtpSettings) and own.sends_as_owner  # its From is the owner's
                    else own.model_copy(update={"from_": sender}) if isinstance(own, SmtpSettings)
                    else SmtpSettings.model_validate({"from": sender}))
        self._builder = SmtpAdapter(Channel(name=channel.name, adapter="smtp", settings=settings))
        self.written = 0

    def path_for(self, msg: OutMessage) -> Path:
        at = str(msg.payload.get("at") or "").replace("-", "").replace(":", "")[:13]
        parts = [at, msg.payload.get("contact"), msg.payload.get("playbook"), msg.payload.get("step")]
        stem = "_".join(_UNSAFE.sub("-", str(p)) for p in parts if p)
        digest = hashlib.sha256(msg.key.encode()).hexdigest()[:8]
        return self.folder / self.channel.name / f"{stem}_{digest}.eml"

    def deliver(self, msg: OutMessage) -> DeliveryResult:
        try:
            email = self._builder.build(msg)[0] if self.channel.adapter == "smtp" else self._plain(msg)
        except ValueError as exc:
            return failed(f"cannot build the message: {exc}")
        at = msg.payload.get("at")
        if isinstance(at, str):
            try:
                del email["Date"]
                email["Date"] = format_datetime(datetime.fromisoformat(at.replace("Z", "+00:00")))
            except ValueError:
                pass
        email["X-FSL-Key"] = msg.key
        path = self.path_for(msg)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(bytes(email))
        os.replace(tmp, path)
        self.written += 1
        return delivered(f"written to {path.name}")

    def _plain(self, msg: OutMessage) -> EmailMessage:
        """A non-email channel (an SMS): the same file format, addressed to what the channel uses."""
        email = EmailMessage()
        email["From"] = f"{self.channel.name} <{self.channel.name}@fsl.invalid>"
        email["To"] = str(msg.to or msg.payload.get("contact"))
        email["Subject"] = msg.subject or f"{self.channel.name} message"
        email["Message-ID"] = message_id(msg.key, None)
        email.set_content(msg.text)
        return email

    def close(self) -> None:
        pass
