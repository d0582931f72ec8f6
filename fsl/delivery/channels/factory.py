"""A configured channel -> its adapter; a pool that routes every message."""
from __future__ import annotations

from typing import Literal

from fsl.config import Channel, Config

from ..message import OutMessage
from .base import ChannelAdapter


def make_adapter(channel: Channel) -> ChannelAdapter:
    """The adapter of `channel.adapter` (smtp, webhook, task, notify, log)."""
    if channel.adapter == "smtp":
        from .smtp import SmtpAdapter

        return SmtpAdapter(channel)
    if channel.adapter == "webhook":
        from .webhook import WebhookAdapter

        return WebhookAdapter(channel)
    if channel.adapter in ("task", "notify", "log"):
        from .stored import StoredAdapter

        return StoredAdapter(channel)
    raise ValueError(f"unknown adapter {channel.adapter!r} for channel `{channel.name}`")


class AdapterPool:
    """One adapter per channel, made on first use and kept (connections are reused).

    Tasks and notifications are not sends on a configured channel (`task
    call` names a kind, not a channel), so `kind` task/notify always goes to
    a stored adapter; a send on a channel fsl.yaml does not declare gets
    None (the caller marks it failed).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._adapters: dict[str, ChannelAdapter] = {}

    def get(self, msg: OutMessage) -> ChannelAdapter | None:
        channel: Channel | None
        if msg.kind in ("task", "notify"):
            # (spelled out: the adapter is a Literal, which `in` does not narrow msg.kind to)
            kind: Literal["task", "notify"] = "task" if msg.kind == "task" else "notify"
            name, channel = f"<{msg.kind}>", Channel(name=msg.channel, adapter=kind)
        else:
            name, channel = msg.channel, self.config.channels.get(msg.channel)
            if channel is None:
                return None
        adapter = self._adapters.get(name)
        if adapter is None:
            adapter = self._adapters[name] = make_adapter(channel)
        return adapter

    def close(self) -> None:
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            try:
                adapter.close()
            except Exception:  # noqa: BLE001 - closing must not hide the work done
                pass
