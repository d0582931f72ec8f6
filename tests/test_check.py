"""The checker (fsl/check/): LANGUAGE.md section 11, in the style of mypy's test-data.

Each file under tests/fixtures/check/cases/ is a case: a playbook with
`# expect: CODE at LINE:COL` comments.  The checker must report exactly
those (code, line, column) triples, warnings included, no more and no fewer.
`# expect-help: TEXT` asks for a help line containing TEXT, and
`# config: NAME` picks another project file of tests/fixtures/check/
(`none`: check without a project file).

Each check code also has its text and JSON output pinned by a syrupy
snapshot (tests/__snapshots__/test_check.ambr); refresh with
`pytest tests/test_check.py --snapshot-update` and read the diff.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from fsl.api import check_project
from fsl.check import CheckContext, run_checks
from fsl.config import load_config
from fsl.diagnostics.core import CODES
from fsl.diagnostics.emit import emit
from fsl.project import Project
from fsl.syntax.parser import parse_module

FIXTURES = Path(__file__).parent / "fixtures" / "check"
CASES = sorted((FIXTURES / "cases").glob("*.fsl"))
from .conftest import CONFORMANCE  # noqa: E402

EXPECT = re.compile(r"^#\s*expect:\s*([EW]\d{3})\s+at\s+(\d+):(\d+)\s*$")
EXPECT_HELP = re.compile(r"^#\s*expect-help:\s*(.+?)\s*$")
CONFIG = re.compile(r"^#\s*config:\s*(\S+)\s*$")

# Codes the checker reports, each with a case file named after it.
CHECK_CODES = sorted(c for c in CODES if c[1] in "23" or c[0] == "W") + ["E001", "E104"]


def directives(path: Path) -> tuple[list[tuple[str, int, int]], list[str], str]:
    expected, helps, config = [], [], "fsl.yaml"
    for line in path.read_text().splitlines():
        if m := EXPECT.match(line):
            expected.append((m.group(1), int(m.group(2)), int(m.group(3))))
        elif m := EXPECT_HELP.match(line):
            helps.append(m.group(1))
        elif m := CONFIG.match(line):
            config = m.group(1)
    return sorted(expected), helps, config


def check_case(path: Path, monkeypatch):
    """Check one case as `fsl check` would, from the fixtures folder (for stable file names)."""
    monkeypatch.chdir(FIXTURES)
    _, _, config = directives(path)
    project = Project(None, None) if config == "none" else Project.load(FIXTURES / config)
    assert not project.config_diags, project.config_diags
    return check_project([Path("cases") / path.name], project)


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_reports_exactly_what_it_expects(path: Path, monkeypatch) -> None:
    expected, helps, _ = directives(path)
    result = check_case(path, monkeypatch)
    got = sorted((d.code, d.span.line, d.span.column) for d in result.diagnostics)
    assert got == expected, "\n".join(
        f"{d.code} at {d.span.line}:{d.span.column} {d.message}" for d in result.diagnostics)
    for text in helps:
        assert any(text.lower() in (d.help or "").lower() for d in result.diagnostics), text


@pytest.mark.parametrize("code", CHECK_CODES)
def test_every_code_has_a_case(code: str) -> None:
    assert any(p.name.startswith(code) for p in CASES), f"add tests/fixtures/check/cases/{code}_....fsl"


@pytest.mark.parametrize("code", CHECK_CODES)
def test_output_of_each_code(code: str, monkeypatch, snapshot) -> None:
    path = next(p for p in CASES if p.name.startswith(code))
    result = check_case(path, monkeypatch)
    assert code in {d.code for d in result.diagnostics}
    text = emit("text", result.diagnostics, result.sources, result.files)
    assert text == snapshot(name="text")
    assert emit("json", result.diagnostics, result.sources, result.files) == snapshot(name="json")


def test_clean_cases_are_clean(monkeypatch) -> None:
    for path in CASES:
        if path.name.startswith("clean_"):
            assert check_case(path, monkeypatch).diagnostics == [], path.name


# --------------------------------------------------------------- conformance

def test_conformance_valid_files_have_no_errors() -> None:
    project = Project.load(CONFORMANCE / "fsl.yaml")
    result = check_project([CONFORMANCE / "valid"], project)
    assert result.files >= 1
    assert result.errors == [], [f"{d.span.file}:{d.span.line} {d.code} {d.message}" for d in result.errors]


# ------------------------------------------------------------------ api

def _check(text: str, *more: str, config: Path | None = FIXTURES / "fsl.yaml"):
    """Check playbook texts as files a.fsl, b.fsl, ... checked together."""
    modules = []
    for i, src in enumerate((text, *more)):
        module, diags = parse_module(src, f"{'abcdefgh'[i]}.fsl")
        assert diags == []
        modules.append(module)
    cfg = load_config(config)[0] if config else None
    store = Project.load(config).templates if config else None
    return run_checks(CheckContext(modules, cfg, store))


HEADER = """playbook {name}:
    enroll on trial_started
    window weekdays 09:00-17:00
    stop on unsubscribed
    stop on bounced
"""


def test_duplicate_playbook_across_files_is_reported_in_the_later_file() -> None:
    one = HEADER.format(name="same") + "    step a:\n        send email \"hello\"\n"
    diags = _check(one, one)
    assert [(d.code, d.span.file, d.span.line, d.span.column) for d in diags] == [("E203", "b.fsl", 1, 10)]
    assert "a.fsl:1" in diags[0].message


def test_without_a_project_file_only_structural_checks_run() -> None:
    text = HEADER.format(name="p") + (
        "    stop when contact.nope == 1\n"
        "    step a:\n"
        "        send fax \"missing\"\n"
        "        goto b\n"
    )
    diags = _check(text, config=None)
    assert {(d.code, d.span.line) for d in diags} == {("E201", 9)}


def test_every_check_reports_known_codes_with_spans_in_the_file() -> None:
    text = (FIXTURES / "cases" / "E205_type.fsl").read_text()
    for d in _check(text):
        assert d.code in CODES and d.span.file == "a.fsl"
        assert d.span.line >= 1 and d.span.column >= 1


def test_checks_do_not_mutate_or_depend_on_order() -> None:
    text = (FIXTURES / "cases" / "clean_onboarding.fsl").read_text()
    assert _check(text) == [] and _check(text) == []



def test_an_empty_enroll_cron_is_reported_at_its_string() -> None:
    # the builder used to leave the span of an empty cron string unset, and `check` crashed on it
    text = HEADER.format(name="p").replace("enroll on trial_started", 'enroll when true check cron ""') \
        + "    step a:\n        end\n"
    diags = _check(text)
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E214", 2, 33)]

@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_checker_never_crashes_on_a_damaged_playbook(path: Path) -> None:
    """Every copy of a case with one line removed or dedented checks without an exception."""
    config = load_config(FIXTURES / "fsl.yaml")[0]
    store = Project.load(FIXTURES / "fsl.yaml").templates
    lines = path.read_text().splitlines()
    for i in range(len(lines)):
        for damaged in (lines[:i] + lines[i + 1:], lines[:i] + [lines[i].replace("    ", "", 1)] + lines[i + 1:]):
            module, _ = parse_module("\n".join(damaged) + "\n", "x.fsl")
            run_checks(CheckContext([module], config, store))
            run_checks(CheckContext([module], None, None))
