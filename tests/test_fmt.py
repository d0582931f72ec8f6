"""Tests of `fsl fmt` (fsl/fmt): golden fixtures, the conformance playbooks,
the file-level command, and a property test over random messy playbooks.

Fixtures live in tests/fixtures/fmt as pairs NAME.in.fsl / NAME.out.fsl: the
formatter must turn the first into the second and leave the second alone.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsl.fmt import FormatError, SourceError, fmt_paths, format_module, format_source
from fsl.fmt.exprs import number
from fsl.fmt.verify import semantic_key
from fsl.syntax.parser import parse_module

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "fmt"
from .conftest import CONFORMANCE  # noqa: E402
PAIRS = sorted(p.name[: -len(".in.fsl")] for p in FIXTURES.glob("*.in.fsl"))
VALID = sorted((CONFORMANCE / "valid").glob("*.fsl"))


def comment_texts(text: str) -> Counter:
    module, _ = parse_module(text, "t.fsl")
    return Counter(c.text for c in module.comments)


def items_multiset(text: str) -> tuple:
    """The parse of `text` modulo the order of playbook items."""
    module, diags = parse_module(text, "t.fsl")
    assert not diags, diags
    return tuple((pb.name, tuple(sorted(repr(i) for i in pb.items))) for pb in module.playbooks)


def compiled_hashes(text: str):
    """Plan hashes from fsl.compiler.plan_hashes, or None if it is not there (yet)."""
    try:
        from fsl.compiler import plan_hashes
    except ImportError:
        return None
    module, _ = parse_module(text, "t.fsl")
    try:
        return list(plan_hashes(module, None))
    except Exception:  # noqa: BLE001 - random playbooks need not compile without a schema
        return None


# ------------------------------------------------------------------ fixtures

def test_every_fixture_has_its_pair():
    assert PAIRS, "no fixtures found"
    for name in PAIRS:
        assert (FIXTURES / f"{name}.out.fsl").exists(), name


@pytest.mark.parametrize("name", PAIRS)
def test_fixture(name):
    source = (FIXTURES / f"{name}.in.fsl").read_text()
    expected = (FIXTURES / f"{name}.out.fsl").read_text()
    assert format_source(source, f"{name}.in.fsl") == expected
    assert format_source(expected, f"{name}.out.fsl") == expected
    assert comment_texts(expected) == comment_texts(source)
    assert items_multiset(expected) == items_multiset(source)


def test_settings_keep_their_relative_order_within_a_kind():
    out = (FIXTURES / "settings_order.out.fsl").read_text()
    rules = [ln.strip().split()[0:2] for ln in out.splitlines() if ln.strip().startswith(("stop ", "pause "))]
    assert rules == [["stop", "on"], ["stop", "when"], ["pause", "on"], ["stop", "on"], ["pause", "on"]]


def test_moved_setting_takes_its_comment_along():
    out = (FIXTURES / "comments.out.fsl").read_text()
    assert "    # above the owner: moves up with it\n    owner \"ops\"\n" in out
    assert "    # above `stop`: stays with it when it moves down\n    stop on unsubscribed\n" in out


# ------------------------------------------------------------- conformance

@pytest.mark.skipif(not VALID, reason="conformance suite not found next to the project")
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_conformance_file(path):
    source = path.read_text()
    once = format_source(source, str(path))
    assert format_source(once, str(path)) == once
    assert comment_texts(once) == comment_texts(source)
    assert items_multiset(once) == items_multiset(source)
    # the conformance runner's messy copy: trailing spaces, a blank line before each step
    out = []
    for line in source.splitlines():
        out.append(line + "   " if line.strip() else line)
        if line.lstrip().startswith("step "):
            out.insert(len(out) - 1, "")
    messy = "\n".join(out) + "\n\n\n"
    assert format_source(messy, str(path)) == once


def test_conformance_seed_is_already_canonical():
    path = CONFORMANCE / "valid" / "post_meeting.fsl"
    if not path.exists():
        pytest.skip("conformance suite not found")
    assert format_source(path.read_text()) == path.read_text()


# -------------------------------------------------------------- unit cases

@pytest.mark.parametrize("value, text", [
    (0, "0"), (42, "42"), (-1, "-1"), (3.5, "3.5"), (1.0, "1.0"), (0.00001, "0.00001"),
    (1e16, "10000000000000000.0"), (12.25, "12.25"),
])
def test_numbers(value, text):
    assert number(value) == text


def test_crlf_and_bom_are_normalised():
    src = '\ufeffplaybook p:\r\n    step a:  # hi\r\n        end\r\n'
    assert format_source(src) == "playbook p:\n    step a:  # hi\n        end\n"


def test_empty_and_comment_only_files():
    assert format_source("") == ""
    assert format_source("\n\n# just a note   \n\n\n# another\n") == "# just a note\n\n# another\n"


def test_several_comments_in_one_statement_go_above_it():
    src = ('playbook p:\n    stop when deal.stage in [  # first\n        "a",  # second\n'
           '        "b"] as closed  # third\n    step a:\n        end\n')
    out = format_source(src)
    assert out.startswith('playbook p:\n    # first\n    # second\n    # third\n'
                          '    stop when deal.stage in ["a", "b"] as closed\n')


def test_syntax_error_is_refused():
    with pytest.raises(SourceError) as e:
        format_source("playbook p:\n    step a:\n        send\n", "bad.fsl")
    assert e.value.diagnostics and e.value.diagnostics[0].code.startswith("E1")


def test_bad_literal_is_refused():
    # 9:00 would be read as 00:00 and printed so: refuse rather than change the meaning
    with pytest.raises(SourceError):
        format_source("playbook p:\n    window daily 9:00-17:00\n    step a:\n        end\n")


def test_verification_catches_a_broken_printer(monkeypatch):
    import fsl.fmt as fmt

    def bad_printer(module, source):
        return format_module(module, source).replace("2 days", "3 days")

    monkeypatch.setattr(fmt, "format_module", bad_printer)
    with pytest.raises(FormatError, match="means something else"):
        fmt.format_source("playbook p:\n    step a after 2d:\n        end\n")


# --------------------------------------------------------------- fmt_paths

MESSY = "playbook p:\n  step a after 2d:   \n      end\n"
CLEAN = "playbook p:\n    step a after 2 days:\n        end\n"


def test_fmt_paths_rewrites_in_place(tmp_path):
    (tmp_path / "sub").mkdir()
    a, b = tmp_path / "sub" / "a.fsl", tmp_path / "b.fsl"
    a.write_text(MESSY)
    b.write_text(CLEAN)
    mtime = b.stat().st_mtime_ns
    code, messages = fmt_paths([tmp_path])
    assert code == 0
    assert a.read_text() == CLEAN
    assert b.stat().st_mtime_ns == mtime  # unchanged files are not rewritten
    assert any(m == f"reformatted {a}" for m in messages)
    assert fmt_paths([tmp_path], check=True)[0] == 0


def test_fmt_paths_check_and_diff_write_nothing(tmp_path):
    a = tmp_path / "a.fsl"
    a.write_text(MESSY)
    code, messages = fmt_paths([a], check=True)
    assert code == 1 and f"would reformat {a}" in messages
    assert a.read_text() == MESSY
    code, messages = fmt_paths([a], diff=True)
    assert code == 0 and a.read_text() == MESSY
    diff = next(m for m in messages if m.startswith("---"))
    assert "+    step a after 2 days:" in diff and "-  step a after 2d:   " in diff
    code, _ = fmt_paths([a], check=True, diff=True)
    assert code == 1 and a.read_text() == MESSY


def test_fmt_paths_errors(tmp_path):
    bad = tmp_path / "bad.fsl"
    bad.write_text("playbook p:\n    step a\n        end\n")
    good = tmp_path / "good.fsl"
    good.write_text(MESSY)
    code, messages = fmt_paths([bad, good])
    assert code == 2
    assert bad.read_text() == "playbook p:\n    step a\n        end\n"
    assert good.read_text() == CLEAN  # the other files are still formatted
    assert any("E101" in m for m in messages)
    assert fmt_paths([tmp_path / "missing.fsl"])[0] == 2
    binary = tmp_path / "binary.fsl"
    binary.write_bytes(b"\xff\xfe\x00playbook")
    assert fmt_paths([binary])[0] == 2


def test_fmt_paths_skips_hidden_folders(tmp_path):
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.fsl").write_text(MESSY)
    code, messages = fmt_paths([tmp_path])
    assert code == 0 and messages == ["no .fsl files to format"]


# ---------------------------------------------------------------- property

NAMES = ["contact.tier", "contact.ltv", "deal.amount", "deal.stage", "vars.angle", "seg", "contact.first_name"]
FUNCS = ["opened()", "opened(s0)", "replied(s1)", 'clicked(s0, "docs")', "count(login, 30d)",
         "count(login, 2 weeks)", "days_since(last(replied))", "now()", "lower(contact.first_name)"]
STRING_CHARS = st.sampled_from(list('ab #"\\\n\t{}é:') + ["x"])
COMMENT_TEXT = st.text(st.sampled_from(list("ab #\"'\\:é-") + ["x"]), max_size=12)
DURATIONS = ["2d", "2 days", "1 day", "1d", "4h", "30m", "1w", "3 business days", "1 business day", "90 minutes"]
BINOPS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*", "/"]


def _string(chars: list[str]) -> str:
    return '"' + "".join({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(c, c) for c in chars) + '"'


@st.composite
def literals(draw) -> str:
    kind = draw(st.sampled_from(["string", "int", "float", "percent", "duration", "time", "date", "word"]))
    if kind == "string":
        return _string(draw(st.lists(STRING_CHARS, max_size=6)))
    if kind == "int":
        return str(draw(st.integers(0, 100000)))
    if kind == "float":
        return f"{draw(st.integers(0, 999))}.{draw(st.sampled_from(['0', '5', '25', '50', '125', '0001']))}"
    if kind == "percent":
        return draw(st.sampled_from(["10%", "12.5%", "12.50%", "100%", "0%"]))
    if kind == "duration":
        return draw(st.sampled_from(DURATIONS))
    if kind == "time":
        return f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"
    if kind == "date":
        return draw(st.sampled_from(["2026-12-24", "2027-01-01"]))
    return draw(st.sampled_from(["true", "false", "none"]))


def _sep(draw) -> str:
    """A separator inside brackets: sometimes a line break, sometimes with a comment."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return ",\n" + " " * draw(st.integers(0, 12))
    if choice == 1:
        return ",  #" + draw(COMMENT_TEXT) + "\n" + " " * draw(st.integers(0, 12))
    return draw(st.sampled_from([", ", ",", " , "]))


@st.composite
def exprs(draw, depth: int = 0) -> str:
    """An expression in which every composite operand is parenthesised (and
    some atoms too): always valid, with plenty of redundant parentheses."""
    if depth >= 3 or draw(st.integers(0, 2)) == 0:
        atom = draw(st.one_of(literals(), st.sampled_from(NAMES), st.sampled_from(FUNCS)))
        return f"({atom})" if draw(st.integers(0, 5)) == 0 else atom
    kind = draw(st.sampled_from(["bin", "bin", "bin", "not", "neg", "cond", "list", "call"]))
    sub = lambda: f"({draw(exprs(depth + 1))})"  # noqa: E731
    if kind == "bin":
        op = draw(st.sampled_from(BINOPS))
        return f"{sub()} {op} {sub()}"
    if kind == "not":
        return f"not {sub()}"
    if kind == "neg":
        return f"-{sub()}"
    if kind == "cond":
        return f"{sub()} if {sub()} else {sub()}"
    items = [draw(exprs(depth + 1)) for _ in range(draw(st.integers(0 if kind == "list" else 1, 3)))]
    joined = "".join(item + (_sep(draw) if k < len(items) - 1 else "") for k, item in enumerate(items))
    return f"[{joined}]" if kind == "list" else f"coalesce({joined})"


@st.composite
def settings_(draw) -> list[str]:
    e = lambda: draw(exprs())  # noqa: E731
    d = lambda: draw(st.sampled_from(DURATIONS))  # noqa: E731
    pool = [
        lambda: 'description "A random playbook"',
        lambda: f"owner {_string(draw(st.lists(STRING_CHARS, max_size=5)))}",
        lambda: f"priority {draw(st.integers(0, 100))}",
        lambda: f"enroll on meeting_ended{draw(st.sampled_from(['', ' for each stakeholder']))} where {e()}",
        lambda: "enroll on signed_up",
        lambda: f"enroll when {e()}" + draw(st.sampled_from(["", f" check every {d()}", ' check cron "0 6 * * *"'])),
        lambda: draw(st.sampled_from(["reenroll never", f"reenroll after {d()}"])),
        lambda: f"timezone {e()}" + draw(st.sampled_from(["", ' default "Europe/Berlin"'])),
        lambda: "window " + draw(st.sampled_from(["mon-fri 09:00-17:00", "daily 10:00-19:00, sat 10:00-12:00",
                                                    "weekends   08:00 - 09:00"])),
        lambda: 'skip holidays "US"',
        lambda: f"offer max {draw(st.sampled_from(['25%', '12.5%']))}",
        lambda: f"cap{draw(st.sampled_from(['', ' email']))} {draw(st.integers(1, 9))} "
                + draw(st.sampled_from([f"per {d()}", "total", f"per {d()} across deal"])),
        lambda: f"stop on {draw(st.sampled_from(['replied', 'bounced', 'unsubscribed']))}"
                + draw(st.sampled_from(["", " across deal"])) + draw(st.sampled_from(["", f" where {e()}"]))
                + draw(st.sampled_from(["", " as converted"])),
        lambda: f"stop when {e()}" + draw(st.sampled_from(["", " as lost"])),
        lambda: f"pause on replied where {e()} " + draw(st.sampled_from([f"for {d()}", f"until {e()}",
                                                                           f"until {e()} default {d()}"])),
        lambda: f"let {draw(st.sampled_from(['seg', 'tone', 'angle']))} = {e()}",
    ]
    picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=10))
    return [pool[i]() for i in picks]


@st.composite
def actions(draw, depth: int) -> list[tuple[int, str]]:
    """A non-empty block of (relative depth, line) pairs."""
    out: list[tuple[int, str]] = []
    e = lambda: draw(exprs())  # noqa: E731
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["send", "task", "notify", "offer", "set", "wait", "waitfor",
                                     "goto", "end", "if", "match"] if depth < 2 else
                                    ["send", "task", "set", "goto", "end"]))
        if kind == "send":
            out.append((0, 'send email "t"' + draw(st.sampled_from(["", f" to {e()}"]))
                        + draw(st.sampled_from(["", f" with a = {e()}", f" with a = {e()}, b={e()}"]))))
        elif kind == "task":
            out.append((0, 'task call "Call {{ contact.first_name }}"'
                        + draw(st.sampled_from(["", f" to {e()}"])) + draw(st.sampled_from(["", " due 2d"]))))
        elif kind == "notify":
            out.append((0, f'notify {e()} "heads up"'))
        elif kind == "offer":
            out.append((0, "offer discount 10%" + draw(st.sampled_from(["", " expires 1w"]))))
        elif kind == "set":
            out.append((0, f"set vars.angle = {e()}"))
        elif kind == "wait":
            out.append((0, f"wait {draw(st.sampled_from(DURATIONS))}"))
        elif kind == "waitfor":
            out.append((0, "wait up to 2d for replied" + draw(st.sampled_from(["", f" where {e()}"]))))
        elif kind == "goto":
            out.append((0, f"goto s{draw(st.integers(0, 2))}"))
        elif kind == "end":
            out.append((0, draw(st.sampled_from(["end", "end as lost"]))))
        elif kind == "if":
            out.append((0, f"if {e()}:"))
            out.extend((d + 1, t) for d, t in draw(actions(depth + 1)))
            for _ in range(draw(st.integers(0, 2))):
                out.append((0, f"elif {e()}:"))
                out.extend((d + 1, t) for d, t in draw(actions(depth + 1)))
            if draw(st.booleans()):
                out.append((0, "else:"))
                out.extend((d + 1, t) for d, t in draw(actions(depth + 1)))
        else:
            out.append((0, f"match {e()}:"))
            for _ in range(draw(st.integers(1, 3))):
                values = ", ".join(draw(st.lists(literals(), min_size=1, max_size=3)))
                out.append((1, f"case {values}:"))
                out.extend((d + 2, t) for d, t in draw(actions(depth + 1)))
            if draw(st.booleans()):
                out.append((1, "else:"))
                out.extend((d + 2, t) for d, t in draw(actions(depth + 1)))
    return out


@st.composite
def steps(draw, index: int) -> list[tuple[int, str]]:
    timing = draw(st.sampled_from(["", " after 2d", " after 0 days", " at day 3", " at day 4 09:30",
                                   ' at cron "0 9 * * 1"', " every 1d max 3", " after 1h every 2 days"]))
    return [(0, f"step s{index}{timing}:")] + [(d + 1, t) for d, t in draw(actions(0))]


@st.composite
def playbook_texts(draw) -> str:
    """A file of 1-2 playbooks, written messily: odd indentation unit, extra
    blank lines, trailing spaces, and comments in random places."""
    unit = draw(st.sampled_from([2, 3, 4, 8]))
    lines: list[tuple[int, str]] = []
    for p in range(draw(st.integers(1, 2))):
        lines.append((0, f"playbook pb{p}:"))
        items: list[list[tuple[int, str]]] = [[(1, s)] for s in draw(settings_())]
        items += [[(d + 1, t) for d, t in draw(steps(k))] for k in range(draw(st.integers(1, 3)))]
        for item in draw(st.permutations(items)):
            lines.extend(item)
    out: list[str] = []
    for depth, text in lines:
        for _ in range(draw(st.integers(0, 2))):
            extra = draw(st.integers(0, 3))
            if extra == 0:
                out.append("")
            elif extra == 1:
                out.append(" " * draw(st.integers(0, 14)) + "#" + draw(COMMENT_TEXT))
        trail = draw(st.sampled_from(["", "", "   ", f"  #{draw(COMMENT_TEXT)}"]))
        out.append(" " * (unit * depth) + text + trail)
    for _ in range(draw(st.integers(0, 2))):
        out.append(draw(st.sampled_from(["", "   ", "#" + draw(COMMENT_TEXT)])))
    return "\n".join(out) + draw(st.sampled_from(["", "\n", "\n\n\n"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(playbook_texts())
def test_property_fmt_is_safe(source):
    module, diags = parse_module(source, "t.fsl")
    assert not diags, (diags, source)
    out = format_source(source, "t.fsl")
    assert format_source(out, "t.fsl") == out
    assert comment_texts(out) == comment_texts(source)
    assert items_multiset(out) == items_multiset(source)
    again, _ = parse_module(out, "t.fsl")
    assert semantic_key(again) == semantic_key(module)
    assert all(line == line.rstrip() for line in out.split("\n"))
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    assert not re.search(r"\n\n\n", out)
    before = compiled_hashes(source)
    if before is not None:
        assert compiled_hashes(out) == before
    # a messier copy of the output formats back to it
    messy = "\n".join(ln + "  " if ln.strip() else ln for ln in out.split("\n")).replace("\n    step", "\n\n    step")
    assert format_source(messy, "t.fsl") == out
