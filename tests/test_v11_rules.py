"""Language v1.1 rules (LANGUAGE.md, CONFIG.md "Defaults for every playbook"):
calendar caps, the contact's own holidays, fsl.yaml `defaults`, and a task
whose assignee is none.  W407 has its case in tests/fixtures/check/cases/.

The scenarios of tests/fixtures/v11rules/scenarios/ run through `fsl test`
(the real command line); the rest goes through the library calls the CLI
makes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fsl.api import check_project
from fsl.compiler import compile_module
from fsl.compiler.compile import plan_json
from fsl.config import load_config
from fsl.engine.engine import Engine
from fsl.engine.model import Contact
from fsl.engine.program import build
from fsl.engine.evaluate import Ctx
from fsl.fmt import format_source
from fsl.project import Project
from fsl.simulator.scenario import load_scenario
from fsl.simulator.simulate import simulate
from fsl.syntax.parser import parse_module

from .test_store_equivalence import expected, pg_url, production  # noqa: F401 - pg_url: a fixture

FIXTURES = Path(__file__).parent / "fixtures" / "v11rules"
SCENARIOS = FIXTURES / "scenarios"


def parse(text: str, file: str = "a.fsl"):
    module, diags = parse_module(text, file)
    assert diags == [], diags
    return module


# ------------------------------------------------------------- scenarios

def test_every_scenario_passes_fsl_test() -> None:
    proc = subprocess.run([sys.executable, "-m", "fsl", "test", str(SCENARIOS), "--format", "json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    failed = {r["scenario"]: r for r in report["scenarios"] if r["status"] != "pass"}
    assert failed == {} and len(report["scenarios"]) == 7, failed
    assert proc.returncode == 0


def _journal(scenario: str) -> list:
    sim = simulate(load_scenario(SCENARIOS / scenario))
    return list(sim.store.journal_entries())


def test_the_journal_says_whose_holidays_applied_and_why_the_default() -> None:
    entries = _journal("country_holidays.yaml")
    said = {j.contact: j.reason for j in entries if j.kind == "holidays"}
    assert said["c_de"] == "the holidays of DE (contact.country)"
    assert said["c_us"] == "the holidays of US, the default: contact.country is none"
    assert said["c_xx"] == 'the holidays of US, the default: contact.country is "Atlantis", not a known country code'
    # the deferral on Memorial Day names the holiday, the calendar, and why that calendar
    memorial = [j.reason for j in entries if j.kind == "deferred" and j.contact == "c_xx" and "holiday" in j.reason]
    assert memorial == ['deferred to 2027-06-01T09:00:00Z: holiday: Memorial Day (US); the holidays of US, '
                        'the default: contact.country is "Atlantis", not a known country code']


def test_an_inherited_rule_names_fsl_yaml_not_a_line_of_the_playbook() -> None:
    ended = [j.reason for j in _journal("defaults.yaml") if j.kind == "ended" and j.contact == "c_fr"]
    assert ended == ["ended as out_of_region: stop when (fsl.yaml defaults)"]


def test_a_task_without_assignee_goes_to_the_owner_then_the_playbook_owner_and_says_so() -> None:
    warnings = sorted((j.contact, j.reason) for j in _journal("task_assignee.yaml") if j.kind == "warning")
    assert warnings == [
        ("c_none", "task call: its `to` is none and the contact has no owner: assigned to the playbook's owner "
                   "sales-ops"),
        ("c_none", "task linkedin: the contact has no owner: assigned to the playbook's owner sales-ops"),
        ("c_own", "task call: its `to` is none: assigned to contact.owner rep@acme.example"),
    ]


def test_a_task_with_no_owner_anywhere_is_kept_and_reported() -> None:
    module = parse('playbook p:\n    enroll on meeting_ended\n    step a:\n        task call "Call"\n')
    config, _ = load_config(FIXTURES / "fsl.yaml")
    engine = Engine(compile_module(module, config), config)
    from datetime import datetime, timezone

    from fsl.engine.model import Event
    engine.add_contact(Contact("c1", {"first_name": "Ana"}))
    at = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    engine.start(at)
    engine.ingest(Event(at, "meeting_ended", "c1"))
    engine.run_until(datetime(2026, 12, 2, tzinfo=timezone.utc))
    tasks = [a for a in engine.store.actions() if a.kind == "task"]
    assert [t.to for t in tasks] == [None]
    assert [w[1] for w in engine.warnings] == [
        "task call: the contact has no owner, and the playbook has no owner: it is created unassigned"]


def test_one_calendar_per_distinct_value_however_many_contacts() -> None:
    module = parse('playbook p:\n    enroll on meeting_ended\n    skip holidays contact.country default "US"\n'
                   '    step a:\n        task call "x"\n')
    prog = build(compile_module(module)[0])
    seen = []
    for i in range(3000):
        country = ["DE", "FR", "US-CA", None, "Atlantis"][i % 5]
        ctx = Ctx(None, Contact(f"c{i}", {"country": country}), None, None, None, None)
        seen.append(prog.calendar(ctx))
    assert len(prog._calendars) == 5  # the cache: one entry per value, not per contact
    codes = {(cal.code if cal else None, why is not None) for cal, why in seen}
    assert codes == {("DE", False), ("FR", False), ("US-CA", False), ("US", True)}


# -------------------------------------------------------- syntax and fmt

V11 = '''playbook p:
    enroll on meeting_ended
    skip holidays   contact.country   default "US"
    cap email 2 per   calendar week
    cap 5 per calendar month across deal
    stop on unsubscribed
    step a:
        send email "nurture"
'''


def test_fmt_prints_the_new_forms_canonically_and_keeps_the_hash() -> None:
    out = format_source(V11, "a.fsl")
    assert '    skip holidays contact.country default "US"\n' in out
    assert "    cap email 2 per calendar week\n    cap 5 per calendar month across deal\n" in out
    assert format_source(out, "a.fsl") == out
    assert compile_module(parse(out))[0].hash == compile_module(parse(V11))[0].hash


def test_a_calendar_period_is_week_or_month() -> None:
    _, diags = parse_module("playbook p:\n    cap 2 per calendar fortnight\n", "a.fsl")
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E101", 2, 24)]
    assert "week" in diags[0].message and "month" in diags[0].message


def test_calendar_is_a_keyword() -> None:
    _, diags = parse_module("playbook p:\n    step calendar:\n        end\n", "a.fsl")
    assert [d.code for d in diags] == ["E101"]


def test_the_plan_of_a_v1_playbook_keeps_its_hash() -> None:
    """v1.1 fields are left out of a v1 plan's JSON: deployed plans do not change."""
    module = parse('playbook a:\n    enroll on meeting_ended\n    skip holidays "US"\n    cap email 2 per 7 days\n'
                   '    cap 3 total\n    stop on unsubscribed\n    step x:\n        send email "a"\n', "x.fsl")
    plan = compile_module(module)[0]
    assert plan.hash == "sha256:9a9365845ec7d18eac9cd813236034df2f9f8d5643fed5669aa5487558c1cc66"
    assert "calendar" not in plan_json([plan]) and "inherited" not in plan_json([plan])


def test_the_plan_holds_the_new_forms() -> None:
    plan = json.loads(plan_json(compile_module(parse(V11))))
    assert plan["holidays"] == {"expr": {"path": ["contact", "country"]}, "default": "US", "line": 3}
    assert [(c["calendar"], c["per"], c["across_deal"]) for c in plan["caps"]] == [("week", None, False),
                                                                                   ("month", None, True)]


# ------------------------------------------------------------- defaults

def _project(tmp_path: Path, defaults: str, caps: str = "[]") -> Path:
    text = (FIXTURES / "fsl.yaml").read_text().replace("caps: []", f"caps: {caps}")
    text = text.replace("templates: ../conformance/templates/", f"templates: {FIXTURES.parent / 'conformance' / 'templates'}")
    (tmp_path / "fsl.yaml").write_text(text + "\ndefaults: |\n" + defaults)
    return tmp_path / "fsl.yaml"


BARE = 'playbook {name}:\n    enroll on meeting_ended\n    step a:\n        send email "nurture"\n'


def _check(config: Path, *names: str):
    files = []
    for name in names:
        f = config.parent / f"{name}.fsl"
        f.write_text(BARE.format(name=name))
        files.append(f)
    project = Project.load(config)
    return project, check_project(files, project)


def _codes(result) -> list[tuple[str, str, int, int]]:
    return sorted((d.code, Path(d.span.file).name, d.span.line, d.span.column) for d in result.diagnostics)


def test_default_rules_count_for_every_playbook(tmp_path: Path) -> None:
    config = _project(tmp_path, "  window weekdays 09:00-17:00\n  stop on unsubscribed\n  stop on bounced\n")
    _, result = _check(config, "a", "b")
    assert _codes(result) == []  # no E301, W404, W405: the defaults give them


def test_a_problem_in_the_defaults_is_reported_once_at_its_line_in_fsl_yaml(tmp_path: Path) -> None:
    config = _project(tmp_path, "  stop on unsubscribed\n  skip holidays contact.countri default \"XX\"\n"
                                "  stop when days_since(contact.last_login_at) > 45\n")
    lines = config.read_text().splitlines()
    line = lines.index("  skip holidays contact.countri default \"XX\"") + 1
    _, result = _check(config, "a", "b")
    assert [c for c in _codes(result) if c[1] == "fsl.yaml"] == [
        ("E204", "fsl.yaml", line, 17), ("E215", "fsl.yaml", line, 41), ("W407", "fsl.yaml", line + 1, 13)]
    # its text is there to quote the line
    assert result.sources[str(config)].splitlines()[line - 1] == lines[line - 1]


def test_a_default_cap_names_a_channel_and_is_reported_once(tmp_path: Path) -> None:
    config = _project(tmp_path, "  stop on unsubscribed\n  cap emial 3 per calendar week\n")
    line = config.read_text().splitlines().index("  cap emial 3 per calendar week") + 1
    _, result = _check(config, "a", "b", "c")
    assert [c for c in _codes(result) if c[1] == "fsl.yaml"] == [("E208", "fsl.yaml", line, 7)]
    assert [d.help for d in result.diagnostics if d.code == "E208"] == ["did you mean email?"]


def test_defaults_are_checked_even_where_every_playbook_overrides_them(tmp_path: Path) -> None:
    config = _project(tmp_path, '  timezone "Europe/Pariss"\n  stop on unsubscribed\n')
    project, result = _check(config, "a")
    (tmp_path / "a.fsl").write_text(BARE.format(name="a").replace("    step", '    timezone "UTC"\n    step'))
    result = check_project([tmp_path / "a.fsl"], project)
    assert [c[0] for c in _codes(result) if c[1] == "fsl.yaml"] == ["E213"]


def test_a_syntax_error_in_the_defaults_points_into_fsl_yaml(tmp_path: Path) -> None:
    config = _project(tmp_path, "  stop on unsubscribed\n  cap 2 per blah\n")
    line = config.read_text().splitlines().index("  cap 2 per blah") + 1
    _, diags = load_config(config)
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E101", line, 13)]


@pytest.mark.parametrize("item,word", [("step a:\n      end\n", "step"), ("enroll on login\n", "enroll on"),
                                       ("let x = 1\n", "let"), ("enroll when contact.first_name == \"a\"\n",
                                                               "enroll when")])
def test_what_belongs_to_one_playbook_is_refused_in_the_defaults(tmp_path: Path, item: str, word: str) -> None:
    config = _project(tmp_path, "  stop on unsubscribed\n  " + item)
    _, diags = load_config(config)
    line = len(config.read_text().splitlines()) - item.count("\n") + 1
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("E002", line, 3)]
    assert f"`{word}` belongs in a playbook" in diags[0].message


def test_defaults_must_be_a_literal_block(tmp_path: Path) -> None:
    text = (FIXTURES / "fsl.yaml").read_text() + '\ndefaults: "stop on unsubscribed"\n'
    (tmp_path / "fsl.yaml").write_text(text)
    _, diags = load_config(tmp_path / "fsl.yaml")
    assert [d.code for d in diags] == ["E002"] and "defaults: |" in diags[0].message


def test_the_effective_plan_inherits_and_its_hash_covers_it(tmp_path: Path) -> None:
    config_path = _project(tmp_path, "  owner \"ops\"\n  window weekdays 09:00-17:00\n"
                                     "  cap email 1 per calendar week   # a comment\n  stop on unsubscribed\n")
    config, _ = load_config(config_path)
    own = parse('playbook p:\n    owner "me"\n    enroll on meeting_ended\n    stop on bounced\n'
                '    step a:\n        send email "nurture"\n')
    plan = json.loads(plan_json(compile_module(own, config)))
    assert plan["owner"] == "me"  # its own setting wins
    assert [s["event"] for s in plan["stop_on"]] == ["bounced", "unsubscribed"]  # rules add up
    assert plan["caps"][0]["calendar"] == "week" and plan["caps"][0]["line"] == 0  # not a line of p's file
    assert [i["text"] for i in plan["inherited"]] == [
        "window weekdays 09:00-17:00", "cap email 1 per calendar week", "stop on unsubscribed"]
    without = compile_module(own)[0].hash
    assert plan["hash"] != without
    # reformatting the defaults (spacing, comments) keeps the hash; changing one changes it
    spaced = _project(tmp_path, "  owner   \"ops\"\n\n  window weekdays 09:00-17:00  # hours\n"
                                "  cap email 1 per calendar week\n  stop on unsubscribed\n")
    assert compile_module(own, load_config(spaced)[0])[0].hash == plan["hash"]
    changed = _project(tmp_path, "  owner \"ops\"\n  window weekdays 09:00-18:00\n"
                                 "  cap email 1 per calendar week\n  stop on unsubscribed\n")
    assert compile_module(own, load_config(changed)[0])[0].hash != plan["hash"]


def test_fsl_compile_shows_the_effective_plan(tmp_path: Path) -> None:
    config = _project(tmp_path, "  window weekdays 09:00-17:00\n  stop on unsubscribed\n")
    (tmp_path / "p.fsl").write_text(BARE.format(name="p") + "    stop on bounced\n")
    proc = subprocess.run([sys.executable, "-m", "fsl", "compile", "--config", str(config), str(tmp_path / "p.fsl")],
                          capture_output=True, text=True, timeout=120)
    plan = json.loads(proc.stdout)
    assert plan["window"] is not None and [s["event"] for s in plan["stop_on"]] == ["bounced", "unsubscribed"]
    assert [i["text"] for i in plan["inherited"]] == ["window weekdays 09:00-17:00", "stop on unsubscribed"]


# ------------------------------------------------------------ global caps

def test_a_global_cap_per_calendar_week_or_month(tmp_path: Path) -> None:
    config = _project(tmp_path, "  stop on unsubscribed\n",
                      caps="[{limit: 2, per: calendar week}, {channel: email, limit: 5, per: calendar month}]")
    loaded, diags = load_config(config)
    assert diags == [] and loaded is not None
    assert [(c.limit, c.calendar, c.per) for c in loaded.caps] == [(2, "week", None), (5, "month", None)]


def test_a_global_cap_with_an_unknown_calendar_period(tmp_path: Path) -> None:
    config = _project(tmp_path, "  stop on unsubscribed\n", caps="[{limit: 2, per: calendar fortnight}]")
    _, diags = load_config(config)
    assert [d.code for d in diags] == ["E002"]


# ------------------------------------------- production decides the same

@pytest.mark.parametrize("scenario", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
@pytest.mark.parametrize("batch,every", [(1, 0), (3, 5)], ids=["batch-of-1", "ticks-5h"])
def test_sqlite_ticks_decide_like_the_simulator(scenario: str, batch: int, every: int, tmp_path: Path) -> None:
    """Calendar caps and per-contact holidays over the SQL store (its send
    history window, its contact cache) give the simulator's decisions."""
    path = SCENARIOS / scenario
    assert production(load_scenario(path), f"sqlite:///{tmp_path}/fsl.db", batch, every) == expected(path)


@pytest.mark.parametrize("scenario", ["calendar_month_local.yaml", "country_holidays.yaml", "defaults.yaml",
                                      "global_calendar_cap.yaml"])
def test_postgresql_ticks_decide_like_the_simulator(scenario: str, pg_url: str) -> None:
    path = SCENARIOS / scenario
    assert production(load_scenario(path), pg_url, 2, 7) == expected(path)


def test_explain_shows_whose_holidays_applied(tmp_path: Path) -> None:
    from fsl.store import open_store
    from fsl.store.queries import explain

    url = f"sqlite:///{tmp_path}/fsl.db"
    production(load_scenario(SCENARIOS / "country_holidays.yaml"), url, 500)
    db = open_store(url)
    try:
        with db.read() as conn:
            doc = explain(conn, "c_xx")
    finally:
        db.dispose()
    assert doc is not None
    said = [j["reason"] for j in doc["enrollments"][0]["journal"] if j["kind"] == "holidays"]
    assert said == ['the holidays of US, the default: contact.country is "Atlantis", not a known country code']
