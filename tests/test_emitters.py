"""The four diagnostic emitters (text, json, github, sarif) and their dispatcher."""
from __future__ import annotations

import json
import re

import pytest

from fsl.diagnostics.core import CODES, Diagnostic, Span
from fsl.diagnostics.emit import FORMATS, emit
from fsl.diagnostics.emit_github import render_github
from fsl.diagnostics.emit_json import render_json
from fsl.diagnostics.emit_sarif import render_sarif
from fsl.diagnostics.emit_text import render_text

SRC_A = (
    "playbook a:\n"
    "  step one:\n"
    '    if contact.seniorty == "vp":\n'
    "\tgoto nowhere\n"
)
SOURCES = {"seq/a.fsl": SRC_A}

# `contact.seniorty` starts at column 8 of line 3 and is 16 characters long.
UNKNOWN_FIELD = Diagnostic.make(
    "E204",
    "unknown field contact.seniorty",
    Span("seq/a.fsl", 3, 8, 3, 24),
    help="did you mean contact.seniority?",
)
# `nowhere` starts at column 7 of line 4, after a tab and `goto `.
UNKNOWN_STEP = Diagnostic.make("E201", "unknown step nowhere", Span("seq/a.fsl", 4, 7, 4, 14))
NO_WINDOW = Diagnostic.make("W404", "sends email with no window", Span("seq/a.fsl", 1, 1, 1, 9))


# --- text -------------------------------------------------------------------


def test_text_header_source_caret_and_help() -> None:
    out = render_text([UNKNOWN_FIELD], SOURCES, files=1)
    assert out.splitlines() == [
        "seq/a.fsl:3:8: E204 unknown field contact.seniorty",
        ' 3 |     if contact.seniorty == "vp":',
        "   |        ^^^^^^^^^^^^^^^^",
        "  = help: did you mean contact.seniority?",
        "",
        "1 error, 0 warnings in 1 file",
    ]
    assert out.endswith("\n")


def test_text_caret_lines_up_under_tab_indented_source() -> None:
    lines = render_text([UNKNOWN_STEP], SOURCES, files=1).splitlines()
    # The tab becomes 4 spaces in the excerpt, so `nowhere` is at display offset 9.
    assert lines[1] == " 4 |     goto nowhere"
    assert lines[2] == "   |          ^^^^^^^"
    assert lines[1].index("nowhere") == lines[2].index("^")


def test_text_tab_after_text_expands_to_the_next_tab_stop() -> None:
    # "ab\tc": the tab fills columns 2-3 of the display, so `c` is at offset 4, not 6.
    d = Diagnostic.make("E101", "unexpected c", Span.point("t.fsl", 1, 4))
    lines = render_text([d], {"t.fsl": "ab\tc\n"}, files=1).splitlines()
    assert lines[1] == " 1 | ab  c"
    assert lines[2] == "   |     ^"


def test_text_wide_characters_take_two_cells() -> None:
    d = Diagnostic.make("E101", "unexpected x", Span.point("w.fsl", 1, 4))
    lines = render_text([d], {"w.fsl": "名前 x\n"}, files=1).splitlines()
    assert lines[2] == "   |      ^"


def test_text_multiline_span_is_underlined_to_end_of_first_line() -> None:
    d = Diagnostic.make("E103", "unterminated string", Span("t.fsl", 1, 6, 2, 3))
    lines = render_text([d], {"t.fsl": 'send "abc\ndef\n'}, files=1).splitlines()
    assert lines[2] == "   |      ^^^^"


def test_text_empty_span_and_end_of_line_get_one_caret() -> None:
    empty = Diagnostic("E101", "expected ':'", Span("t.fsl", 1, 11, 1, 11))
    lines = render_text([empty], {"t.fsl": "playbook a\n"}, files=1).splitlines()
    assert lines[1] == " 1 | playbook a"
    assert lines[2] == "   |           ^"


def test_text_missing_file_or_line_prints_header_and_help_only() -> None:
    beyond = Diagnostic.make("E101", "oops", Span("seq/a.fsl", 99, 1, 99, 2), help="try again")
    elsewhere = Diagnostic.make("E001", "cannot read", Span("gone.fsl", 1, 1, 1, 2))
    out = render_text([beyond, elsewhere], SOURCES, files=2)
    assert out.splitlines() == [
        "gone.fsl:1:1: E001 cannot read",
        "",
        "seq/a.fsl:99:1: E101 oops",
        "  = help: try again",
        "",
        "2 errors, 0 warnings in 2 files",
    ]


def test_text_gutter_widens_with_the_line_number() -> None:
    src = "\n" * 11 + "x = 1\n"
    d = Diagnostic.make("E101", "bad", Span.point("t.fsl", 12, 1))
    lines = render_text([d], {"t.fsl": src}, files=1).splitlines()
    assert lines[1:3] == [" 12 | x = 1", "    | ^"]


def test_text_sorted_and_summary_counts() -> None:
    out = render_text([UNKNOWN_STEP, UNKNOWN_FIELD, NO_WINDOW], SOURCES, files=3)
    headers = [line for line in out.splitlines() if line.startswith("seq/")]
    assert headers == [
        "seq/a.fsl:1:1: W404 sends email with no window",
        "seq/a.fsl:3:8: E204 unknown field contact.seniorty",
        "seq/a.fsl:4:7: E201 unknown step nowhere",
    ]
    assert out.splitlines()[-1] == "2 errors, 1 warning in 3 files"


def test_text_no_diagnostics_is_just_the_summary() -> None:
    assert render_text([], {}, files=0) == "0 errors, 0 warnings in 0 files\n"


def test_text_color_only_when_asked() -> None:
    plain = render_text([UNKNOWN_FIELD, NO_WINDOW], SOURCES, files=1)
    assert "\x1b[" not in plain
    colored = render_text([UNKNOWN_FIELD, NO_WINDOW], SOURCES, files=1, color=True)
    assert "\x1b[31m" in colored  # red for the error
    assert "\x1b[33m" in colored  # yellow for the warning
    assert "\x1b[1mseq/a.fsl:3:8:\x1b[0m" in colored  # bold header
    # Escape codes must not shift the carets: strip them and compare with plain output.
    assert re.sub(r"\x1b\[[0-9;]*m", "", colored) == plain


# --- json -------------------------------------------------------------------


def test_json_shape_keys_and_order() -> None:
    out = render_json([UNKNOWN_STEP, UNKNOWN_FIELD, NO_WINDOW], files=3)
    assert out.endswith("}\n")
    assert out.startswith('{\n  "files": 3,\n  "diagnostics": [\n    {\n      "file"')
    doc = json.loads(out)
    assert list(doc) == ["files", "diagnostics"]
    assert doc["files"] == 3
    first = doc["diagnostics"][0]
    assert list(first) == [
        "file", "line", "column", "end_line", "end_column",
        "severity", "code", "message", "help",
    ]
    assert [d["code"] for d in doc["diagnostics"]] == ["W404", "E204", "E201"]
    assert doc["diagnostics"][1] == {
        "file": "seq/a.fsl", "line": 3, "column": 8, "end_line": 3, "end_column": 24,
        "severity": "error", "code": "E204", "message": "unknown field contact.seniorty",
        "help": "did you mean contact.seniority?",
    }
    assert first["help"] is None and first["severity"] == "warning"


def test_json_sorts_by_file_then_position_then_code() -> None:
    same_place = [
        Diagnostic.make("E205", "b", Span.point("b.fsl", 1, 1)),
        Diagnostic.make("E204", "a", Span.point("b.fsl", 1, 1)),
        Diagnostic.make("E101", "c", Span.point("b.fsl", 1, 10)),
        Diagnostic.make("E101", "d", Span.point("b.fsl", 2, 1)),
        Diagnostic.make("E301", "e", Span.point("a.fsl", 9, 9)),
    ]
    doc = json.loads(render_json(same_place, files=2))
    got = [(d["file"], d["line"], d["column"], d["code"]) for d in doc["diagnostics"]]
    assert got == [
        ("a.fsl", 9, 9, "E301"),
        ("b.fsl", 1, 1, "E204"),
        ("b.fsl", 1, 1, "E205"),
        ("b.fsl", 1, 10, "E101"),
        ("b.fsl", 2, 1, "E101"),
    ]


def test_json_empty() -> None:
    assert json.loads(render_json([], files=0)) == {"files": 0, "diagnostics": []}


# --- github -----------------------------------------------------------------


def test_github_error_with_help() -> None:
    assert render_github([UNKNOWN_FIELD]) == (
        "::error file=seq/a.fsl,line=3,col=8,endLine=3,endColumn=24,title=E204"
        "::unknown field contact.seniorty (help: did you mean contact.seniority?)\n"
    )


def test_github_warning_and_escaping() -> None:
    d = Diagnostic.make(
        "W402",
        "never holds: a, b\r\nnext 100%",
        Span("dir,x/we:ird.fsl", 2, 5, 2, 6),
    )
    assert render_github([d]) == (
        "::warning file=dir%2Cx/we%3Aird.fsl,line=2,col=5,endLine=2,endColumn=6,title=W402"
        "::never holds: a, b%0D%0Anext 100%25\n"
    )


def test_github_one_line_per_diagnostic_in_order() -> None:
    out = render_github([UNKNOWN_STEP, NO_WINDOW])
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("::warning file=seq/a.fsl,line=1,")
    assert lines[1].startswith("::error file=seq/a.fsl,line=4,col=7,")
    assert render_github([]) == ""


# --- sarif ------------------------------------------------------------------


def test_sarif_structure_and_rules() -> None:
    log = json.loads(render_sarif([UNKNOWN_FIELD, NO_WINDOW], tool_version="1.2.3"))
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "fsl"
    assert driver["version"] == "1.2.3"
    assert "informationUri" not in driver
    rules = driver["rules"]
    assert [r["id"] for r in rules] == list(CODES)
    w404 = next(r for r in rules if r["id"] == "W404")
    assert w404["shortDescription"] == {"text": CODES["W404"][1]}
    assert w404["defaultConfiguration"] == {"level": "warning"}
    e204 = next(r for r in rules if r["id"] == "E204")
    assert e204["defaultConfiguration"] == {"level": "error"}


def test_sarif_results_point_at_their_rule_and_region() -> None:
    log = json.loads(render_sarif([UNKNOWN_FIELD, NO_WINDOW], tool_version="0.1.0"))
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["W404", "E204"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    field = results[1]
    assert field["ruleIndex"] == list(CODES).index("E204")
    assert field["level"] == "error"
    assert results[0]["level"] == "warning"
    assert field["message"]["text"] == (
        "unknown field contact.seniorty. did you mean contact.seniority?"
    )
    assert results[0]["message"]["text"] == "sends email with no window"
    location = field["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "seq/a.fsl"
    assert location["region"] == {"startLine": 3, "startColumn": 8, "endLine": 3, "endColumn": 24}


def test_sarif_uri_uses_forward_slashes() -> None:
    d = Diagnostic.make("E101", "bad", Span.point("seq\\sub\\b.fsl", 1, 1))
    log = json.loads(render_sarif([d], tool_version="0.1.0"))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "seq/sub/b.fsl"


# --- dispatch ---------------------------------------------------------------


def test_emit_dispatches_to_each_format() -> None:
    diags = [UNKNOWN_FIELD, NO_WINDOW]
    assert FORMATS == ("text", "json", "github", "sarif")
    assert emit("text", diags, SOURCES, 1) == render_text(diags, SOURCES, 1)
    assert emit("text", diags, SOURCES, 1, color=True) == render_text(diags, SOURCES, 1, color=True)
    assert emit("json", diags, SOURCES, 1) == render_json(diags, 1)
    assert emit("github", diags, SOURCES, 1) == render_github(diags)
    sarif = json.loads(emit("sarif", iter(diags), SOURCES, 1))
    assert len(sarif["runs"][0]["results"]) == 2


def test_emit_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        emit("xml", [], {}, 0)
