"""Literals too large for the runtime are E104 at the literal, never a crash (build.py)."""
from __future__ import annotations

import pytest

from fsl.syntax.parser import parse_module

IN_IF = """\
playbook p:
    enroll on trial_started
    stop on unsubscribed
    step a:
        if contact.seats > {}:
            send email "hello"
"""
COLUMN = IN_IF.split("\n")[4].index("{") + 1


@pytest.mark.parametrize("literal", [
    "1" * 309 + ".5",          # a 309-digit decimal
    "9" * 400 + ".0",          # beyond a float: infinity
    "9" * 5000,                # beyond Python's int-from-text limit
    str(2**63),                # beyond the store's 64-bit integers
    "9" * 400 + "%",
    "9" * 5000 + " days",
    "99999999999999 hours",
    "40000 days",              # past year 9999 from a plausible now
])
def test_an_overflowing_literal_is_e104_at_the_literal(literal: str) -> None:
    _, diags = parse_module(IN_IF.format(literal), "big.fsl")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E104", 5, COLUMN)], diags
    assert len(diags[0].message) < 120  # a long literal is shortened in the message


@pytest.mark.parametrize("literal", [str(2**63 - 1), "36500 days", "1." + "0" * 5000, "99.5"])
def test_large_but_representable_literals_are_fine(literal: str) -> None:
    assert parse_module(IN_IF.format(literal), "ok.fsl")[1] == []


def test_overflowing_settings_are_e104_once_each() -> None:
    big = "9" * 5000
    text = (f"playbook p:\n    enroll on trial_started\n    stop on unsubscribed\n    priority {big}\n"
            f"    cap {big} per 1 day\n    step a at day {big} every 1 day max {big}:\n"
            '        send email "hello"\n')
    _, diags = parse_module(text, "big.fsl")
    assert [(d.code, d.span.line) for d in diags] == [("E104", 4), ("E104", 5), ("E104", 6), ("E104", 6)]
    assert all("too large" in d.message for d in diags)
