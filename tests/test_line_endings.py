"""Line endings: LF, CRLF and a lone CR read alike; a file with no playbook is W409."""
from __future__ import annotations

from pathlib import Path

import pytest

from fsl.api import check_project
from fsl.fmt import format_source
from fsl.project import Project
from fsl.syntax.parser import parse_module

PLAYBOOK = [
    "# a comment first",
    "playbook p:",
    "    enroll on signed_up",
    "    stop on unsubscribed",
    "    step a:",
    '        send email "hello" with x = 1 +',  # an error on line 6, to pin positions
]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_line_ending_reads_the_same_playbooks_and_positions(eol: str, tmp_path: Path) -> None:
    path = tmp_path / "p.fsl"
    path.write_bytes(eol.join(PLAYBOOK[:-1] + ['        send email "hello"', ""]).encode())
    result = check_project([path], Project(None, None))
    assert [pb.name for m in result.modules for pb in m.playbooks] == ["p"]
    assert not result.errors

    path.write_bytes(eol.join(PLAYBOOK + [""]).encode())
    result = check_project([path], Project(None, None))
    assert [(d.code, d.span.line) for d in result.errors] == [("E101", 6)]


def test_formatting_a_cr_file_keeps_its_playbook() -> None:
    out = format_source("\r".join(PLAYBOOK[:-1] + ['        send email "hello"', ""]))
    assert "playbook p:\n" in out and "\r" not in out


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "# c\r# d\r"])
def test_a_file_without_a_playbook_is_a_warning(text: str) -> None:
    module, diags = parse_module(text, "empty.fsl")
    assert module.playbooks == ()
    assert [(d.code, d.severity, d.span.line, d.span.column) for d in diags] == [("W409", "warning", 1, 1)]


def test_a_file_with_only_broken_playbooks_is_not_also_w409() -> None:
    _, diags = parse_module("playbook p\n", "broken.fsl")
    assert [d.code for d in diags] == ["E101"]
