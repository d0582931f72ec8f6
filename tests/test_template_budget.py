"""Hostile templates (fsl/sandbox.py, fsl/templates.py): each message renders
within a budget, and what would fail every render fails `fsl check` instead."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fsl.delivery.render import RenderFailed, render_text
from fsl.sandbox import Budget, BudgetExceeded, budget, render_parts
from fsl.templates import TemplateError, TemplateRenderError, parse_template, render_template

LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"

HOSTILE_RENDERS = {
    "nested loops": (LOOPS, "loops more than"),
    "unsized nested loops": ("{% for i in range(100000)|map('string') %}{% for j in range(100000)|map('string') %}"
                             "{% endfor %}{% endfor %}", "loops more than"),
    "constant power": ("{{ 9**(9**9) > 1 }}", "too large a number"),
    "power of variables": ("{% set x = 9 %}{{ x ** (x ** x) }}", "too large a number"),
    "repetition": ("{{ 'x' * 10**10 }}", "characters"),
    "center filter": ("{{ 'x'|center(999999999) }}", "characters"),
    "str method": ("{{ 'x'.ljust(999999999) }}", "characters"),
    "percent format": ("{{ '%999999999s' % 'x' }}", "format width"),
    "format filter": ("{{ '%999999999s'|format('x') }}", "format width"),
    "str.format": ("{{ '{:>999999999}'.format('x') }}", "format width"),
    "doubling by ~": ("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
                      "{% endfor %}{{ ns.s|length }}", "characters"),
    "doubling by +": ("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
                      "{% endfor %}{{ ns.s|length }}", "characters"),
    "join of copies": ("{% set ns = namespace(l=[]) %}{% set big = 'x' * 900000 %}{% for i in range(10000) %}"
                       "{% if ns.l.append(big) %}{% endif %}{% endfor %}{{ ns.l|join }}", "joining"),
    "replace growth": ("{{ ('x' * 1000)|replace('x', 'y' * 1000)|replace('y', 'z' * 1000) }}", "replace"),
    "long output": ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "writes more than"),
}


@pytest.mark.parametrize("body, reason", HOSTILE_RENDERS.values(), ids=HOSTILE_RENDERS.keys())
def test_a_hostile_template_loads_and_fails_its_render_with_a_reason(body: str, reason: str) -> None:
    template = parse_template(f"---\nsubject: Hi\n---\n{body}\n", Path("hostile.md"))  # loading runs nothing
    with pytest.raises(TemplateRenderError) as info:
        render_template(template, {})
    assert reason in info.value.message and info.value.line == 4


def test_ordinary_templates_are_untouched() -> None:
    body = ("{% for x in items %}{{ x|upper }},{% endfor %} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ [1, 2]|join('-') }} "
            "{{ 'a'|center(5) }}|{{ '%5s' % 'x' }}|{{ '{:>3}'.format(7) }}|{{ 'a' ~ 'b' }}{% if 3 is odd %}!{% endif %}")
    template = parse_template(body, Path("ok.md"))
    assert render_template(template, {"items": ["a", "b"]}).text == "A,B, 1024 ababab 1-2   a  |    x|  7|ab!"


def test_the_time_budget_stops_a_render() -> None:
    template = parse_template("{% for i in range(10) %}{{ i }}{% endfor %}", Path("slow.md"))
    with budget(seconds=-1.0), pytest.raises(TemplateRenderError, match="longer than"):
        render_template(template, {})
    with pytest.raises(BudgetExceeded):
        Budget(seconds=-1.0).clock()
    with budget(chars=3), pytest.raises(BudgetExceeded):
        render_parts(["ab", "cd"])


def test_a_task_text_has_the_same_budget() -> None:
    with pytest.raises(RenderFailed, match="loops more than"):
        render_text(LOOPS + "Call {{ contact.first_name }}", {"contact": {"first_name": "Ana"}}, "task")


UNUSABLE = {
    "70 parentheses": ("{{ " + "(" * 70 + "1" + ")" * 70 + " }}", "nested too deeply"),
    "21 nested for": ("".join("{%% for i%d in [1] %%}" % i for i in range(21)) + "x" + "{% endfor %}" * 21,
                      "nested too deeply"),
    "extends": ("hello\n{% extends 'base.html' %}", "extends"),
    "include": ("hello\n{% include 'footer.md' %}", "include"),
    "import": ("hello\n{% import 'macros.md' as m %}", "import"),
    "unknown test": ("hello\n{% if contact.first_name is frobnicated %}x{% endif %}", "unknown test"),
}


@pytest.mark.parametrize("body, reason", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_what_would_fail_every_render_fails_loading(body: str, reason: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_template(f"---\nsubject: Hi\n---\n{body}\n", Path("bad.md"))
    assert reason in info.value.message
    assert info.value.line == (4 if reason == "nested too deeply" else 5)


def test_fsl_check_reports_a_bad_template_and_does_not_run_a_hostile_one(tmp_path: Path) -> None:
    """`{{ 9**(9**9) > 1 }}` took Jinja2's optimizer over a minute to fold when `fsl check` loaded it."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "sequences").mkdir()
    (tmp_path / "templates" / "power.md").write_text("---\nsubject: Hi\n---\n{{ 9**(9**9) > 1 }}\n")
    (tmp_path / "templates" / "framed.md").write_text("---\nsubject: Hi\n---\n{% extends 'base.md' %}\n")
    (tmp_path / "fsl.yaml").write_text(
        "version: 1\nsequences: sequences/\ntemplates: templates/\nstore: sqlite:///fsl.db\ntimezone: UTC\n"
        "events:\n  signed_up: {}\nchannels:\n  email: {adapter: log}\n")
    (tmp_path / "sequences" / "p.fsl").write_text(
        'playbook p:\n    enroll on signed_up\n    stop on unsubscribed\n    stop on bounced\n'
        '    window weekdays 09:00-17:00\n    step a:\n        send email "power"\n'
        '    step b after 1 day:\n        send email "framed"\n')
    proc = subprocess.run([sys.executable, "-m", "fsl", "check", "--format", "json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)  # generous: it hung for minutes
    assert proc.returncode == 1, proc.stderr
    import json

    found = [(d["code"], d["message"]) for d in json.loads(proc.stdout)["diagnostics"]]
    assert len(found) == 1 and found[0][0] == "E001" and "extends" in found[0][1], found
