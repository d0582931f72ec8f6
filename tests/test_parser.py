"""The grammar and the parser: conflict-free LALR, spans, and author-worded syntax errors."""
from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsl.durations import Duration
from fsl.syntax import nodes as n
from fsl.syntax.parser import grammar_parser, parse_module

from .conftest import CONFORMANCE, SEQUENCES


def parse(src: str):
    return parse_module(textwrap.dedent(src).lstrip("\n"), "t.fsl")


def codes(diags):
    return [(d.code, d.span.line, d.span.column) for d in diags]


def test_grammar_is_conflict_free_in_strict_mode():
    # strict=True makes lark refuse shift/reduce conflicts and terminal collisions
    assert grammar_parser(strict=True) is not None


@pytest.mark.parametrize("path", sorted((CONFORMANCE / "valid").glob("*.fsl")) + sorted(SEQUENCES.glob("*.fsl")),
                         ids=lambda p: p.name)
def test_valid_files_parse_cleanly(path):
    module, diags = parse_module(path.read_text(), str(path))
    assert diags == []
    assert module.playbooks and not module.broken


def test_ast_shape_and_spans():
    m, d = parse('''
        # leading comment
        playbook demo:
            description "A \\"quoted\\" text"
            enroll on meeting_ended for each stakeholder where stakeholder.attended
            cap email 2 per 3d across deal
            stop on replied where event.kind == "human" as converted
            let tier = "a" if contact.ltv >= 5000 else "b"

            step first after 0 days:  # trailing
                send email "recap" to contact.email with tone = "warm", n = -1
                if opened(first) and not clicked(first, "x"):
                    wait 2 hours
                elif count(login, 30 days) > 2:
                    goto first
                else:
                    end as lost
    ''')
    assert d == []
    pb = m.playbooks[0]
    assert pb.name == "demo" and (pb.span.line, pb.span.column) == (2, 1)
    assert pb.first(n.Description).text == 'A "quoted" text'
    enroll = pb.first(n.EnrollOn)
    assert enroll.for_each_stakeholder and enroll.where == n.Path(("stakeholder", "attended"))
    cap = pb.first(n.Cap)
    assert (cap.channel, cap.limit, cap.per, cap.across_deal) == ("email", 2, Duration(3, "days"), True)
    stop = pb.first(n.StopOn)
    assert stop.outcome == "converted" and (stop.event_span.line, stop.event_span.column) == (6, 13)
    step = pb.steps[0]
    assert step.timing == n.After(Duration(0, "days"))
    send, branch = step.body
    assert send.with_args[1].value == n.Literal("number", -1)
    assert (send.template_span.line, send.template_span.column) == (10, 20)
    assert [type(b.body[0]) for b in branch.branches] == [n.Wait, n.Goto]
    assert branch.orelse == (n.End("lost"),)
    assert [c.text for c in m.comments] == [" leading comment", " trailing"]


def test_equality_ignores_spans():
    a, _ = parse("playbook p:\n    stop on bounced\n    step s:\n        end\n")
    b, _ = parse("playbook p:\n\n\n    stop  on   bounced   # c\n    step s:\n            end\n")
    assert a.playbooks == b.playbooks


@pytest.mark.parametrize("src, code, line, col, words", [
    ("playbook p:\n    stop of replied\n", "E101", 2, 10, "expected 'on' or 'when' after 'stop'"),
    ("playbook p:\n    step a\n        end\n", "E101", 2, 11, "expected ':'"),
    ("playbook p:\n    step a:\n        send email\n", "E101", 3, 19, "a string in double quotes"),
    ("playbook p:\n    step a after 2:\n        end\n", "E104", 2, 18, "a duration needs a unit"),
    ("playbook p:\n    step a:\n        send email \"x\n", "E103", 3, 20, "unterminated string"),
    ("playbook p:\n    step a:\n            end\n      end\n", "E102", 4, 7, "indented by 6 spaces"),
    ("playbook p:\n    step a:\n\tend\n", "E102", 3, 1, "tab"),
    ("playbook p:\n    window weekdays 9:00-17:00\n", "E104", 2, 21, "HH:MM"),
    ("playbook p:\n    offer max 101%\n", "E104", 2, 15, "cannot exceed 100%"),
    ("playbook p:\n    step a every 0 days:\n        end\n", "E104", 2, 18, "zero duration"),
    ("playbook p:\n    step a at day 0:\n        end\n", "E104", 2, 19, "day numbers start at 1"),
    ("playbook p:\n    step a:\n        send email \"x\" $\n", "E101", 3, 24, "unexpected character"),
])
def test_syntax_errors_say_what_was_expected(src, code, line, col, words):
    _, diags = parse_module(src, "t.fsl")
    assert (diags[0].code, diags[0].span.line, diags[0].span.column) == (code, line, col), diags
    assert words in diags[0].message
    assert "COLON" not in diags[0].message and "STRING" not in diags[0].message


def test_one_syntax_error_does_not_hide_the_other_playbooks():
    m, d = parse('''
        playbook first:
            stop of replied
            step a:
                end
        playbook second:
            step a:
                end
        playbook third:
            step a
                end
    ''')
    # a broken one is read again without its bad lines, for the checker only;
    # third has nothing left once its one step is cut
    assert [x.name for x in m.playbooks] == ["first", "second"]
    assert set(m.broken) == {"first", "third"}
    assert [r.name for r in m.recovered] == ["first"]
    assert codes(d) == [("E101", 2, 10), ("E101", 9, 11)]


def test_a_syntax_error_does_not_hide_the_later_ones_of_its_playbook():
    m, d = parse('''
        playbook p:
            stop of replied
            step a:
                send email "x" to
                wait 2 days
            step b after 1 day
                goto a
            step c:
                if deal.value > :
                    end
                set contact.x = (1 +
                goto b
    ''')
    assert codes(d) == [("E101", 2, 10), ("E101", 4, 26), ("E101", 6, 23), ("E101", 9, 25), ("E101", 12, 9)]
    (r,) = m.recovered
    assert r.hidden_names == {"b"} and r.blanked == (2, 4, 6, 7, 9, 10, 11)
    assert [s.name for s in m.playbooks[0].steps] == ["a", "c"]


# -------------------------------------------------------------- robustness

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data):
    text = data.decode("utf-8", errors="replace")
    module, diags = parse_module(text, "r.fsl")
    assert isinstance(module, n.Module)


VALID = (CONFORMANCE / "valid" / "post_meeting.fsl")


@settings(max_examples=120, deadline=None)
@given(st.integers(min_value=0, max_value=2000), st.text(max_size=30))
def test_truncated_and_spliced_files_never_raise(cut, junk):
    text = VALID.read_text()
    cut = min(cut, len(text))
    module, diags = parse_module(text[:cut] + junk + text[cut:cut + 200], "t.fsl")
    assert isinstance(module, n.Module)
    for d in diags:
        assert d.code.startswith("E1") and d.span.line >= 1 and d.span.column >= 1


def test_deep_nesting_and_huge_lines_are_reported_not_raised():
    deep = "playbook x:\n    stop when " + " and ".join(["contact.a"] * 20000) + "\n    step a:\n        end\n"
    _, diags = parse_module(deep, "deep.fsl")
    assert [d.code for d in diags] == ["E101"]
    parens = "playbook x:\n    stop when " + "(" * 3000 + "contact.a" + ")" * 3000 + "\n    step a:\n        end\n"
    m, diags = parse_module(parens, "p.fsl")
    assert diags == [] and len(m.playbooks) == 1
    huge = "playbook x:\n    description \"" + "x" * 1_000_000 + "\"\n    step a:\n        end\n"
    m, diags = parse_module(huge, "h.fsl")
    assert diags == [] and len(m.playbooks[0].first(n.Description).text) == 1_000_000
