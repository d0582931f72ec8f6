"""Delivery (RUNTIME.md section 5): from an action record to a channel.

`render.render_action` turns an `ActionRecord` into an `OutMessage` (the
rendered, self-contained thing a channel sends); `channels.make_adapter`
builds the adapter of a configured channel, whose `deliver` answers
delivered / retry / failed; `retry.RetryPolicy` says when to try again and
when to give up.  The outbox (fsl/runtime/outbox.py) strings these together; this
package keeps no state of its own, so a crash anywhere leaves the outbox row
to be delivered again under the same idempotency key.
"""
from __future__ import annotations

from .message import OutMessage, idempotency_key, message_id
from .render import NeedsModel, RenderFailed, compose_send, render_action, template_context
from .retry import RetryPolicy, Settlement, policy_for, settle

__all__ = [
    "NeedsModel", "OutMessage", "RenderFailed", "RetryPolicy", "Settlement", "compose_send", "idempotency_key",
    "message_id", "policy_for", "render_action", "settle", "template_context",
]
