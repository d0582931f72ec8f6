"""What the demo's contacts do with the messages they get: opens, clicks,
replies of every kind, forwards, bounces, unsubscribes, complaints, booked
meetings and purchases.

Each delivered message draws its reactions from a random generator seeded
with the demo's seed and the message's idempotency key, so the same seed
gives the same story however the ticks fall.  Reactions are recorded as
events in the future of the message (the tick ingests them when their time
comes); a reaction can never be earlier than the tick that sees the message.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from fsl.engine.model import Event

_DEAL_PLAYBOOKS = ("post_meeting", "multi_stakeholder", "reengage_silent_deal")
# engagement names the message; a booked meeting or a purchase is about the contact
_ABOUT_A_MESSAGE = ("opened", "clicked", "replied", "forwarded", "bounced", "unsubscribed", "complained")


def reactions(seed: int, msg: dict[str, Any], links: list[str], not_before: datetime) -> list[Event]:
    """The events one delivered send causes.  `msg`: key, at, contact, deal,
    playbook, step, channel, template."""
    rng = random.Random(f"{seed}/{msg['key']}")
    at: datetime = msg["at"]
    out: list[Event] = []

    def ev(delay_minutes: float, type_: str, **fields: Any) -> datetime:
        when = max(at + timedelta(minutes=delay_minutes), not_before)
        step = msg["step"] if type_ in _ABOUT_A_MESSAGE else None
        out.append(Event(when, type_, msg["contact"], msg["deal"], step, fields))
        return when

    if msg["channel"] == "sms":
        if links and rng.random() < 0.25:
            ev(rng.uniform(20, 600), "clicked", link=rng.choice(links))
            _purchase(rng, msg, ev, 600)
        elif rng.random() < 0.05:
            ev(rng.uniform(30, 900), "replied", kind="human")
        return out
    if rng.random() < 0.02:
        ev(3, "bounced")
        return out
    opened = rng.random() < 0.6
    t_open = rng.uniform(60, 30 * 60)
    if opened:
        ev(t_open, "opened")
        if links and rng.random() < 0.4:
            ev(t_open + rng.uniform(1, 30), "clicked", link=rng.choice(links))
            _purchase(rng, msg, ev, t_open + 90)
        if rng.random() < 0.06:
            ev(t_open + rng.uniform(30, 240), "forwarded")
    r = rng.random()
    t_reply = (t_open if opened else rng.uniform(60, 600)) + rng.uniform(30, 24 * 60)
    if r < 0.09:
        ev(t_reply, "replied", kind="human")
        if msg["playbook"] in _DEAL_PLAYBOOKS and rng.random() < 0.5:
            ev(t_reply + rng.uniform(60, 26 * 60), "meeting_booked")
    elif r < 0.13:
        back = (at + timedelta(days=rng.randint(4, 9))).date()
        ev(rng.uniform(1, 10), "replied", kind="out_of_office", return_date=back)
    elif r < 0.15:
        ev(rng.uniform(1, 10), "replied", kind="auto_reply")
    elif r < 0.165:
        ev(t_reply, "replied", kind="unsubscribe_request")
    elif r < 0.18:
        ev((t_open if opened else 120) + 5, "unsubscribed")
    elif r < 0.183:
        ev((t_open if opened else 120) + 5, "complained")
    return out


def _purchase(rng: random.Random, msg: dict[str, Any], ev, delay: float) -> None:
    """A click on a win-back offer, a renewal or a tier-A touch sometimes ends in a purchase."""
    template = msg["template"] or ""
    chance = 0.2 if template.startswith("winback_") else 0.3 if template.startswith("renewal") else \
        0.06 if template == "tier_a_touch" else 0.0
    if chance and rng.random() < chance:
        ev(delay + rng.uniform(30, 48 * 60), "purchased", amount=rng.choice([1200, 2400, 5000, 9000]))


def completes(seed: int, task_id: int) -> bool:
    """Whether the rep ticks this task off (most, not all)."""
    return random.Random(f"{seed}/task/{task_id}").random() < 0.7

