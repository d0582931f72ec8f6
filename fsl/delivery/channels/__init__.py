"""Channel adapters: deliver one `OutMessage` and say delivered, retry or failed.

An adapter never raises for a delivery problem and never puts a secret (a
password, a token, a webhook URL that embeds one) into a result's `detail`
or a log line: details end up in the store and in `fsl status`.
"""
from __future__ import annotations

from .base import ChannelAdapter, DeliveryResult
from .factory import AdapterPool, make_adapter

__all__ = ["AdapterPool", "ChannelAdapter", "DeliveryResult", "make_adapter"]
