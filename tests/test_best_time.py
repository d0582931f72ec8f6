"""`send at best time [within DURATION]` (LANGUAGE.md v1.1, SIGNALS.md section 4).

Through every stage: the parser (AST and positions), the checker (a bad
duration, a repeated setting), the plan and its hash, `fsl fmt`, the choice
of the hour, the engine (memory store) and the SQL store's maintained
aggregate.  The end-to-end behaviour is in the conformance scenarios
S40_best_time.yaml and S41_best_time_no_engagement.yaml, which
test_store_equivalence.py also runs on SQLite (and PostgreSQL).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fsl.check import CheckContext, run_checks
from fsl.compiler.compile import compile_module, plan_dict
from fsl.config import load_config
from fsl.engine import stepping
from fsl.engine.besttime import K, choose, human_engagement
from fsl.engine.memstore import MemoryStore
from fsl.engine.model import Event
from fsl.fmt import format_source
from fsl.simulator.scenario import load_scenario
from fsl.simulator.simulate import simulate, to_json
from fsl.syntax import nodes as n
from fsl.syntax.parser import parse_module
from fsl.timecalc import WindowRange

from .conftest import CONFORMANCE
from .test_ops_support import T0, WELCOME, cli, make_project, populate, runtime
from .test_ops_support import at as minutes_after
from .test_store_equivalence import pg_url, production  # noqa: F401 - pg_url: the fixture

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
CONFIG, _ = load_config(CONFORMANCE / "fsl.yaml")
S40 = CONFORMANCE / "scenarios" / "S40_best_time.yaml"


def src(setting: str, name: str = "p") -> str:
    return (f"playbook {name}:\n    enroll on meeting_ended\n{setting}    stop on unsubscribed\n"
            "    stop on bounced\n\n    step hello:\n        send email \"nurture\"\n")


def parse(text: str):
    module, diags = parse_module(text, "a.fsl")
    return module, diags


def plan_of(text: str):
    module, diags = parse(text)
    assert [d for d in diags if d.is_error] == []
    return compile_module(module, CONFIG)[0]


def check(text: str):
    module, diags = parse(text)
    return diags + run_checks(CheckContext([module], CONFIG, None))


# ------------------------------------------------------------------ language

def test_the_setting_parses_with_and_without_within_and_keeps_positions() -> None:
    module, diags = parse(src("    send at best time within 36h\n"))
    assert diags == []
    bt = module.playbooks[0].first(n.BestTime)
    assert bt is not None and str(bt.within) == "36 hours"
    assert (bt.span.line, bt.span.column) == (3, 5)
    assert bt.within_span is not None and (bt.within_span.line, bt.within_span.column) == (3, 30)
    module, _ = parse(src("    send at best time\n"))
    assert module.playbooks[0].first(n.BestTime).within is None


@pytest.mark.parametrize("word", ["best", "time", "within"])
def test_the_new_words_are_reserved(word: str) -> None:
    _, diags = parse(src("", name=word))
    assert [d.code for d in diags] == ["E101"]


def test_a_zero_hold_is_an_error_at_the_duration() -> None:
    diags = check(src("    send at best time within 0 hours\n"))
    assert [(d.code, d.span.line, d.span.column) for d in diags if d.is_error] == [("E104", 3, 30)]


def test_a_hold_longer_than_a_week_is_an_error_at_the_duration() -> None:
    diags = check(src("    send at best time within 8 days\n"))
    errors = [d for d in diags if d.is_error]
    assert [(d.code, d.span.line, d.span.column) for d in errors] == [("E104", 3, 30)]
    assert "longer than 7 days" in errors[0].message
    assert [d for d in check(src("    send at best time within 7 days\n")) if d.is_error] == []


def test_the_setting_may_appear_once() -> None:
    diags = check(src("    send at best time\n    send at best time within 2 hours\n"))
    assert [(d.code, d.span.line) for d in diags if d.is_error] == [("E216", 4)]


def test_the_plan_fills_the_default_and_the_hash_covers_the_hold() -> None:
    default = plan_of(src("    send at best time\n"))
    assert default.best_time is not None and default.best_time.within.model_dump() == {"amount": 1, "unit": "days"}
    assert plan_of(src("    send at best time within 1 day\n")).hash == default.hash
    assert plan_of(src("    send at best time within 24 hours\n")).hash != default.hash
    without = plan_of(src(""))
    assert without.hash != default.hash
    # a playbook without the setting keeps its v1 JSON (and so its v1 hash)
    assert "best_time" not in plan_dict(without)
    assert plan_dict(default)["best_time"] == {"within": {"amount": 1, "unit": "days"}}


def test_fmt_is_canonical_stable_and_keeps_the_hash() -> None:
    text = src("    send   at best  time within 36h\n")
    once = format_source(text, "a.fsl")
    assert "    send at best time within 36 hours\n" in once
    assert format_source(once, "a.fsl") == once
    assert plan_of(once).hash == plan_of(text).hash


# ------------------------------------------------------------------ the choice

def at(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def hours(**counts: int) -> list[int]:
    out = [0] * 24
    for k, v in counts.items():
        out[int(k[1:])] = v
    return out


def test_no_human_engagement_in_the_project_means_no_hold() -> None:
    assert choose(at("2026-11-30T15:00:00Z"), at("2026-12-01T15:00:00Z"), NY, None, None,
                  [0] * 24, [0] * 24) is None


def test_ties_go_to_the_earliest_and_now_is_a_candidate() -> None:
    flat = [1] * 24
    c = choose(at("2026-11-30T15:07:00Z"), at("2026-12-01T15:07:00Z"), NY, None, None, [0] * 24, flat)
    assert c is not None and c.at == at("2026-11-30T15:07:00Z")
    # two equal best hours: the earlier one (16:00 local today), not 09:00 tomorrow
    c = choose(at("2026-11-30T15:00:00Z"), at("2026-12-01T15:00:00Z"), NY, None, None,
               [0] * 24, hours(h9=3, h16=3))
    assert c is not None and c.at == at("2026-11-30T21:00:00Z") and c.hour == 16


def test_the_contact_s_habit_is_shrunk_towards_the_population() -> None:
    project = hours(h11=90, h14=10)
    now, ceiling = at("2026-11-30T15:00:00Z"), at("2026-12-01T15:00:00Z")
    # one open at 14:00 is not a habit yet: 1 + K*0.1 < K*0.9
    assert choose(now, ceiling, NY, None, None, hours(h14=1), project).hour == 11
    # eight tie (8 + K*0.1 == K*0.9: the earlier hour), nine are a habit
    assert choose(now, ceiling, NY, None, None, hours(h14=8), project).hour == 11
    assert choose(now, ceiling, NY, None, None, hours(h14=9), project).hour == 14
    assert K == 10


def test_the_ceiling_and_the_window_bound_the_candidates() -> None:
    now = at("2026-11-30T15:00:00Z")  # Monday 10:00 in New York
    project = hours(h14=5, h20=50)
    within_2h = choose(now, at("2026-11-30T17:00:00Z"), NY, None, None, [0] * 24, project)
    assert within_2h.at == now  # 11:00 and 12:00 score no better than now
    window = (WindowRange(frozenset(range(5)), 8 * 60, 18 * 60),)
    day = choose(now, at("2026-12-01T15:00:00Z"), NY, window, None, [0] * 24, project)
    assert day.hour == 14 and day.at == at("2026-11-30T19:00:00Z")  # 20:00 is outside the window
    assert choose(now, at("2026-12-01T15:00:00Z"), NY, None, None, [0] * 24, project).hour == 20


def test_hour_starts_are_local_across_dst_and_in_half_hour_zones() -> None:
    # 2026-11-01: New York falls back; the starts stay on local HH:00
    c = choose(at("2026-11-01T04:30:00Z"), at("2026-11-02T04:30:00Z"), NY, None, None,
               [0] * 24, hours(h9=1))
    assert c.at.astimezone(NY).hour == 9 and c.at.astimezone(NY).minute == 0
    kolkata = ZoneInfo("Asia/Kolkata")
    c = choose(at("2026-11-30T03:00:00Z"), at("2026-12-01T03:00:00Z"), kolkata, None, None,
               [0] * 24, hours(h15=1))
    assert c.at == at("2026-11-30T09:30:00Z")


def test_what_counts_as_human_engagement() -> None:
    t = at("2026-11-30T15:00:00Z")
    assert human_engagement(Event(t, "opened", "c1"))
    assert human_engagement(Event(t, "clicked", "c1", fields={"machine": False}))
    assert not human_engagement(Event(t, "opened", "c1", fields={"machine": True}))
    assert human_engagement(Event(t, "replied", "c1", fields={"kind": "human"}))
    assert not human_engagement(Event(t, "replied", "c1", fields={"kind": "out_of_office"}))
    assert not human_engagement(Event(t, "delivered", "c1"))


# ------------------------------------------------------------------ engine and stores

class CountingStore(MemoryStore):
    """Records the event histories read while the engine decides a best time."""

    def __init__(self) -> None:
        super().__init__()
        self.deciding = False
        self.read: list[str] = []
        self.asked = 0

    def contact_events(self, contact_id, type_):
        if self.deciding:
            self.read.append(type_)
        return super().contact_events(contact_id, type_)

    def events(self):
        if self.deciding:
            self.read.append("*")
        return super().events()

    def engagement(self, contact_id):
        self.asked += 1
        return super().engagement(contact_id)


def test_the_engine_reads_the_aggregate_never_the_engagement_history(monkeypatch) -> None:
    store = CountingStore()
    decide = stepping._best_time

    def watched(engine, *args):
        store.deciding = True
        try:
            return decide(engine, *args)
        finally:
            store.deciding = False

    monkeypatch.setattr("fsl.simulator.simulate.MemoryStore", lambda: store)
    monkeypatch.setattr(stepping, "_best_time", watched)
    sim = simulate(load_scenario(S40))
    assert store.read == [] and store.asked == 4  # one look per held send, none for the tasks
    own, project = store.engagement("c1")
    assert own[14] == 5 and sum(own) == 5
    assert project[11] == 15 and project[14] == 10 and sum(project) == 25  # machine opens not counted
    held = [j for j in sim.engine.store.journal_entries() if j.kind == "deferred" and "best time" in j.reason]
    assert {j.contact for j in held} == {"c1", "c2", "c4", "c5"}


def aggregate(url: str) -> tuple[dict, dict]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            per_contact = {(c, h): n for c, h, n in conn.execute(sa.text("SELECT contact, hour, n FROM engagement"))}
            totals = {h: n for h, n in conn.execute(sa.text("SELECT hour, n FROM engagement_totals"))}
    finally:
        engine.dispose()
    return per_contact, totals


def agrees_with_the_simulator(url: str, batch: int, every_hours: int) -> None:
    got = production(load_scenario(S40), url, batch, every_hours)
    want = to_json(simulate(load_scenario(S40)))
    assert got == {"actions": want["actions"], "outcomes": want["outcomes"]}
    assert aggregate(url) == ({("c1", 14): 5, ("c5", 14): 5, ("c3", 11): 15}, {11: 15, 14: 10})


def test_the_sql_store_maintains_the_same_aggregate(tmp_path: Path) -> None:
    agrees_with_the_simulator(f"sqlite:///{tmp_path}/fsl.db", 500, 0)


def test_postgresql_maintains_the_same_aggregate(pg_url: str) -> None:
    agrees_with_the_simulator(pg_url, 2, 7)


# ------------------------------------------------------------------ fsl explain, on a project

BEST = WELCOME.replace("    stop on unsubscribed\n", "    stop on unsubscribed\n    send at best time\n")


def test_explain_says_why_a_send_was_held_for_the_best_hour(tmp_path: Path) -> None:
    """c0001 opened mail at 19:xx UTC on five past days (history, imported):
    its sign-up at T0 (15:00) is held to 19:00, and `fsl explain` says why."""
    make_project(tmp_path, playbooks={"welcome": BEST})
    populate(tmp_path / "fsl.yaml", 2)
    rt = runtime(tmp_path / "fsl.yaml")
    rt.record_events([Event(T0 - timedelta(days=d, hours=-4, minutes=-10), "opened", "c0001", None, None, {})
                      for d in range(1, 6)], history=True)
    rt.close()
    cli("tick", "--now", minutes_after(60 * 5), "--no-deliver", cwd=tmp_path)
    assert "best time: 19:00 local" in cli("explain", "c0001", cwd=tmp_path).stdout
    doc = json.dumps(json.loads(cli("explain", "c0001", "--format", "json", cwd=tmp_path).stdout))
    assert "best time: 19:00 local, the contact's best hour for human engagement (5 of its 5" in doc
    rt = runtime(tmp_path / "fsl.yaml")
    with rt.store.snapshot() as store:
        hello = {a.contact: a.at for a in store.actions() if a.step == "hello"}
    rt.close()
    # c0002 has no habit of its own: the project's best hour is 19:00 too
    assert hello == {"c0001": T0 + timedelta(hours=4), "c0002": T0 + timedelta(hours=4)}
