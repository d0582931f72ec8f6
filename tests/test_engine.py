"""Focused tests of the runtime engine's semantics (RUNTIME.md, LANGUAGE.md 3-10).

Each test compiles a small inline playbook against the conformance project
file, runs it through the simulator and asserts what the engine did (the
actions and outcomes `fsl simulate --format json` reports), never how.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fsl.compiler import compile_module
from fsl.config import load_config
from fsl.engine.engine import Engine
from fsl.engine.model import Contact, Deal, Event
from fsl.simulator.scenario import Scenario, parse_instant
from fsl.simulator.simulate import simulate, to_json
from fsl.engine.memstore import MemoryStore
from fsl.syntax.parser import parse_module

UTC = timezone.utc
SUITE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
CONFIG, _ = load_config(SUITE / "fsl.yaml")


def compile_src(src: str, config=CONFIG):
    module, diags = parse_module(src, "inline.fsl")
    errors = [d for d in diags if d.is_error]
    assert not errors, errors
    return compile_module(module, config)


def run(src: str, contacts, events, deals=(), start="2026-11-23T00:00:00Z",
        until="2026-12-31T00:00:00Z", config=CONFIG) -> dict:
    """Simulate and return the JSON report of `fsl simulate`."""
    plans = compile_src(src, config)
    cs = [Contact(c["id"], dict(c)) for c in contacts]
    ds = [Deal(d["id"], {k: v for k, v in d.items() if k != "stakeholders"},
               {s["contact"]: {k: v for k, v in s.items() if k != "contact"} for s in d.get("stakeholders", [])})
          for d in deals]
    es = [Event(parse_instant(e["at"]), e["type"], e.get("contact"), e.get("deal"), e.get("step"),
                {k: v for k, v in e.items() if k not in ("at", "type", "contact", "deal", "step")})
          for e in events]
    scn = Scenario(Path("inline.yaml"), plans, config, parse_instant(start), parse_instant(until), cs, ds, es)
    return to_json(simulate(scn))


def acts(out: dict, *keys: str) -> list[tuple]:
    keys = keys or ("at", "contact", "step")
    return [tuple(a.get(k) for k in keys) for a in out["actions"]]


def outcomes(out: dict) -> list[tuple]:
    return sorted((o["contact"], o["playbook"], o["outcome"], o["at"]) for o in out["outcomes"])


def enroll(contact: str, at: str, type_: str = "meeting_ended", **extra) -> dict:
    return {"at": at, "type": type_, "contact": contact, **extra}


def header(name: str = "p", tz: str = '"UTC"', extra: str = "") -> str:
    return (f"playbook {name}:\n    enroll on meeting_ended\n    timezone {tz}\n"
            f"    stop on unsubscribed\n    stop on bounced\n{extra}")


C1 = [{"id": "c1", "email": "c1@example.com", "first_name": "Ana"}]


# ------------------------------------------------------------------ timing

def test_after_days_is_calendar_local_and_hours_absolute_across_spring_dst():
    src = header(tz='"America/New_York"') + """
    step a:
        send email "nurture"
    step b after 1 day:
        send email "nurture"
    step c after 24 hours:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2027-03-13T15:00:00Z")], start="2027-03-13T00:00:00Z",
              until="2027-04-01T00:00:00Z")
    # 10:00 EST on Saturday; Sunday 10:00 is EDT (14:00Z); 24 hours later is 14:00Z again
    assert acts(out) == [("2027-03-13T15:00:00Z", "c1", "a"), ("2027-03-14T14:00:00Z", "c1", "b"),
                         ("2027-03-15T14:00:00Z", "c1", "c")]


def test_at_day_past_time_runs_at_once_and_no_time_keeps_enrollment_time():
    src = header() + """
    step d1 at day 1 09:00:
        send email "nurture"
    step d2 at day 2:
        send email "nurture"
    step d4 at day 4 08:15:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-24T15:30:00Z")])
    assert acts(out) == [("2026-11-24T15:30:00Z", "c1", "d1"), ("2026-11-25T15:30:00Z", "c1", "d2"),
                         ("2026-11-27T08:15:00Z", "c1", "d4")]


def test_at_cron_is_local_and_counts_from_the_previous_step():
    src = header(tz='"Europe/Berlin"') + """
    step intro:
        send email "nurture"
    step first at cron "30 8 * * *":
        send email "nurture"
    step second at cron "30 8 * * *":
        send email "nurture"
"""
    # enrolled 2026-10-24 07:00Z = 09:00 CEST: today's 08:30 is gone; DST ends on the 25th
    out = run(src, C1, [enroll("c1", "2026-10-24T07:00:00Z")], start="2026-10-24T00:00:00Z",
              until="2026-11-10T00:00:00Z")
    assert acts(out) == [("2026-10-24T07:00:00Z", "c1", "intro"), ("2026-10-25T07:30:00Z", "c1", "first"),
                         ("2026-10-26T07:30:00Z", "c1", "second")]


def test_every_with_max_repeats_then_moves_on():
    src = header() + """
    step ping every 2 days max 3:
        send email "nurture"
    step done after 1 hour:
        task call "wrap up"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "ping"), ("2026-11-25T10:00:00Z", "c1", "ping"),
                         ("2026-11-27T10:00:00Z", "c1", "ping"), ("2026-11-27T11:00:00Z", "c1", "done")]
    assert outcomes(out) == [("c1", "p", "completed", "2026-11-27T11:00:00Z")]


def test_due_times_round_up_to_the_minute():
    src = header() + """
    step a:
        send email "nurture"
"""
    engine = Engine(compile_src(src), CONFIG, MemoryStore())
    engine.add_contact(Contact("c1", {"id": "c1"}))
    # event instants count to the minute; nothing ever runs at a second
    engine.ingest(Event(datetime(2026, 11, 23, 10, 0, 42, tzinfo=UTC), "meeting_ended", "c1"))
    engine.run_until(datetime(2026, 11, 24, tzinfo=UTC))
    (action,) = list(engine.store.actions())
    assert action.at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


# ---------------------------------------------------------- window, holidays

def test_window_with_several_ranges_and_exclusive_end():
    src = header(extra="    window mon-fri 09:00-12:00, mon-fri 14:00-17:00, sat 10:00-11:00\n") + """
    step a:
        send email "nurture"
    step b after 3 hours:
        send email "nurture"
    step c after 3 hours:
        send email "nurture"
    step d after 1 day:
        send email "nurture"
"""
    # Fri 2026-11-27 11:00: a at once; b due 14:00 (open); c due 17:00 = the end (closed) -> Sat 10:00
    out = run(src, C1, [enroll("c1", "2026-11-27T11:00:00Z")])
    assert acts(out) == [("2026-11-27T11:00:00Z", "c1", "a"), ("2026-11-27T14:00:00Z", "c1", "b"),
                         ("2026-11-28T10:00:00Z", "c1", "c"), ("2026-11-30T09:00:00Z", "c1", "d")]


def test_contact_zone_falls_back_to_default_then_project():
    src = """playbook p:
    enroll on meeting_ended
    timezone contact.timezone default "Asia/Tokyo"
    window daily 09:00-10:00
    stop on unsubscribed
    stop on bounced

    step a:
        send email "nurture"
"""
    contacts = [{"id": "c1", "timezone": "Europe/Berlin"}, {"id": "c2", "timezone": "Nowhere/Land"},
                {"id": "c3"}]
    out = run(src, contacts, [enroll(c, "2026-11-23T12:00:00Z") for c in ("c1", "c2", "c3")])
    assert acts(out) == [("2026-11-24T00:00:00Z", "c2", "a"), ("2026-11-24T00:00:00Z", "c3", "a"),
                         ("2026-11-24T08:00:00Z", "c1", "a")]


def test_holidays_of_a_subdivision_are_skipped_and_business_days_skip_them():
    def src(code):
        return header(tz='"Europe/Berlin"', extra=f'    skip holidays "{code}"\n') + """
    step a:
        send email "nurture"
    step b after 1 business day:
        send email "nurture"
"""
    events = [enroll("c1", "2027-01-05T09:00:00Z")]  # Tuesday; Wednesday 6 January is Epiphany in Bavaria
    bavaria = run(src("DE-BY"), C1, events, start="2027-01-01T00:00:00Z", until="2027-02-01T00:00:00Z")
    berlin = run(src("DE-BE"), C1, events, start="2027-01-01T00:00:00Z", until="2027-02-01T00:00:00Z")
    assert acts(bavaria)[1] == ("2027-01-07T09:00:00Z", "c1", "b")
    assert acts(berlin)[1] == ("2027-01-06T09:00:00Z", "c1", "b")


def test_a_due_step_on_a_holiday_waits_for_the_next_day():
    src = header(tz='"America/New_York"', extra='    skip holidays "US"\n') + """
    step a after 3 hours:
        send email "nurture"
"""
    # 22:00 on the 24th in New York, due 01:00 on the 25th: a holiday
    out = run(src, C1, [enroll("c1", "2026-12-25T03:00:00Z")])
    assert acts(out) == [("2026-12-26T05:00:00Z", "c1", "a")]  # local midnight of the 26th


# ---------------------------------------------------------------------- caps

CAPS_STEPS = """
    step a:
        send email "nurture"
    step b after 1 day:
        send email "nurture"
    step c after 1 day:
        send email "nurture"
    step d after 1 day:
        send email "nurture"
"""


def test_rolling_cap_defers_until_the_oldest_send_leaves_and_total_cap_ends():
    src = header(extra="    cap 1 per 2 days\n    cap 3 total\n") + CAPS_STEPS
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert [a[0] for a in acts(out)] == ["2026-11-23T10:00:00Z", "2026-11-25T10:00:00Z", "2026-11-27T10:00:00Z"]
    assert outcomes(out) == [("c1", "p", "cap_reached", "2026-11-28T10:00:00Z")]


def test_channel_cap_counts_only_its_channel_and_tasks_count_toward_no_cap():
    src = header(extra="    cap sms 1 per 7 days\n    cap 2 per 1 day\n") + """
    step a:
        send sms "nurture"
        send email "nurture"
        task call "one"
        task call "two"
        task call "three"
    step b after 1 hour:
        send email "nurture"
    step c after 1 hour:
        send sms "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    # b: two sends already within 1 day -> deferred a day; c: sms again only after 7 days
    assert [(a[0], a[2]) for a in acts(out, "at", "contact", "step") if a[2] != "a"] == [
        ("2026-11-24T10:00:00Z", "b"), ("2026-11-30T10:00:00Z", "c")]


def test_a_cap_naming_a_task_kind_counts_those_tasks():
    src = header(extra="    cap call 1 per 1 day\n") + """
    step a:
        task call "first"
    step b after 1 hour:
        task call "second"
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert acts(out, "at", "step", "kind")[1:] == [("2026-11-24T10:00:00Z", "b", "task"),
                                                   ("2026-11-24T10:00:00Z", "b", "send")]


def test_cap_across_deal_spreads_sends_in_contact_order():
    src = """playbook team:
    enroll on meeting_ended for each stakeholder
    timezone "UTC"
    cap 1 per 1 day across deal
    stop on unsubscribed
    stop on bounced

    step hello:
        send email "nurture"
"""
    contacts = [{"id": c} for c in ("c3", "c1", "c2")]
    deals = [{"id": "d1", "name": "N", "stage": "demo", "amount": 1,
              "stakeholders": [{"contact": "c2"}, {"contact": "c3"}, {"contact": "c1"}]}]
    out = run(src, contacts, [{"at": "2026-11-23T10:00:00Z", "type": "meeting_ended", "deal": "d1"}], deals)
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "hello"), ("2026-11-24T10:00:00Z", "c2", "hello"),
                         ("2026-11-25T10:00:00Z", "c3", "hello")]


def test_global_cap_lets_higher_priority_go_first(tmp_path):
    text = (SUITE / "fsl.yaml").read_text().replace("caps: []", "caps:\n  - {limit: 1, per: 1 day}")
    text = text.replace("templates: templates/", f"templates: {SUITE / 'templates'}/")
    (tmp_path / "fsl.yaml").write_text(text)
    config, diags = load_config(tmp_path / "fsl.yaml")
    assert not diags
    src = "".join(f"""playbook {name}:
    priority {prio}
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step s:
        send email "nurture"

""" for name, prio in (("alpha", 50), ("beta", 90), ("gamma", 50)))
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")], config=config)
    assert acts(out, "at", "playbook") == [("2026-11-23T10:00:00Z", "beta"), ("2026-11-24T10:00:00Z", "alpha"),
                                          ("2026-11-25T10:00:00Z", "gamma")]


# ------------------------------------------------------------- stop, pause

PAUSING = """playbook p:
    enroll on meeting_ended
    timezone "UTC"
    stop on replied where event.kind == "human"
    pause on replied where event.kind == "out_of_office" until event.return_date default 3 days
    pause on snoozed for 1 day
    stop on unsubscribed
    stop on bounced

    step a:
        send email "nurture"
    step b after 2 days:
        send email "nurture"
    step c after 2 days:
        send email "nurture"
"""


def test_a_reply_at_the_same_minute_stops_the_due_step():
    out = run(PAUSING, C1, [enroll("c1", "2026-11-23T10:00:00Z"),
                            enroll("c1", "2026-11-25T10:00:00Z", "replied", step="a", kind="human")])
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "a")]
    assert outcomes(out) == [("c1", "p", "stopped", "2026-11-25T10:00:00Z")]


def test_pause_until_a_date_starts_that_local_day_and_later_steps_keep_spacing():
    src = PAUSING.replace('timezone "UTC"', 'timezone "America/Chicago"')
    out = run(src, C1, [enroll("c1", "2026-11-23T16:00:00Z"),
                        enroll("c1", "2026-11-24T16:00:00Z", "replied", step="a", kind="out_of_office",
                               return_date="2026-11-30")])
    # b resumes at local midnight of the 30th (06:00Z), c two days after b
    assert acts(out) == [("2026-11-23T16:00:00Z", "c1", "a"), ("2026-11-30T06:00:00Z", "c1", "b"),
                         ("2026-12-02T06:00:00Z", "c1", "c")]


def test_pause_without_a_date_uses_the_default_and_a_short_pause_keeps_the_due_time():
    out = run(PAUSING, C1 + [{"id": "c2"}], [
        enroll("c1", "2026-11-23T10:00:00Z"), enroll("c2", "2026-11-23T10:00:00Z"),
        enroll("c1", "2026-11-24T08:00:00Z", "replied", step="a", kind="out_of_office"),
        enroll("c2", "2026-11-23T12:00:00Z", "snoozed")])
    # c1: 3 days from the event; c2: snoozed a day, over before b was due anyway
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "a"), ("2026-11-23T10:00:00Z", "c2", "a"),
                         ("2026-11-25T10:00:00Z", "c2", "b"), ("2026-11-27T08:00:00Z", "c1", "b"),
                         ("2026-11-27T10:00:00Z", "c2", "c"), ("2026-11-29T08:00:00Z", "c1", "c")]


def test_a_stop_while_paused_ends_it_and_nothing_runs_after():
    out = run(PAUSING, C1, [
        enroll("c1", "2026-11-23T10:00:00Z"),
        enroll("c1", "2026-11-24T08:00:00Z", "replied", step="a", kind="out_of_office"),
        enroll("c1", "2026-11-25T08:00:00Z", "replied", step="a", kind="human")])
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "a")]
    assert outcomes(out) == [("c1", "p", "stopped", "2026-11-25T08:00:00Z")]


def test_stop_when_sees_data_changed_by_an_update_and_names_its_outcome():
    src = header(extra='    stop when contact.tier == "C" as downgraded\n') + """
    step a:
        send email "nurture"
    step b after 1 day:
        send email "nurture"
"""
    out = run(src, [{"id": "c1", "tier": "A"}], [
        enroll("c1", "2026-11-23T10:00:00Z"),
        {"at": "2026-11-23T12:00:00Z", "type": "update", "contact": "c1", "set": {"tier": "C"}}])
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "a")]
    assert outcomes(out) == [("c1", "p", "downgraded", "2026-11-24T10:00:00Z")]


def test_stop_on_with_outcome_and_an_event_without_a_message_concerns_every_enrollment():
    src = header("one", extra="    stop on purchased as won\n") + """
    step a:
        send email "nurture"
    step b after 3 days:
        send email "nurture"

""" + header("two", extra="    stop on purchased as won\n") + """
    step a:
        send email "nurture"
    step b after 3 days:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z"), enroll("c1", "2026-11-24T10:00:00Z", "purchased")])
    assert outcomes(out) == [("c1", "one", "won", "2026-11-24T10:00:00Z"), ("c1", "two", "won", "2026-11-24T10:00:00Z")]


def test_an_engagement_event_acts_on_the_enrollment_that_sent_the_message():
    src = header("one", extra="    stop on replied\n") + """
    step hello:
        send email "nurture"
    step later after 3 days:
        send email "nurture"

""" + header("two", extra="    stop on replied\n") + """
    step other:
        send email "nurture"
    step later after 3 days:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z"),
                        enroll("c1", "2026-11-24T10:00:00Z", "replied", step="hello", kind="human")])
    assert outcomes(out) == [("c1", "one", "stopped", "2026-11-24T10:00:00Z"),
                             ("c1", "two", "completed", "2026-11-26T10:00:00Z")]


# ------------------------------------------------------------------- actions

def test_offer_rides_on_the_following_sends_of_its_step_only():
    src = header(extra="    offer max 30%\n") + """
    step a:
        send email "nurture"
        offer discount 15% expires 3 days
        send email "winback_offer"
    step b after 1 day:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    offers = [a.get("offer", "none") for a in out["actions"]]
    assert offers == ["none", {"percent": 15, "expires": "2026-11-26T10:00:00Z"}, "none"]


def test_set_vars_and_contact_fields_feed_later_conditions():
    src = header() + """
    step a:
        set vars.angle = "roi"
        set contact.tier = "B"
        if vars.angle == "roi" and contact.tier == "B":
            send email "roi_data"
    step b after 1 day:
        match vars.angle:
            case "team":
                send email "multi_stakeholder"
            case "roi", "short":
                send email "short_angle"
"""
    out = run(src, [{"id": "c1", "tier": "A"}], [enroll("c1", "2026-11-23T10:00:00Z")])
    assert acts(out, "step", "template") == [("a", "roi_data"), ("b", "short_angle")]


def test_wait_resumes_later_subject_to_the_window_and_anchors_the_next_step():
    src = header(extra="    window daily 09:00-17:00\n") + """
    step a:
        send email "nurture"
        wait 6 hours
        task call "follow up"
    step b after 1 day:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T15:00:00Z")])
    # 21:00 is outside the window: the rest of a runs at 09:00, b a day after that
    assert acts(out, "at", "step", "kind") == [("2026-11-23T15:00:00Z", "a", "send"),
                                              ("2026-11-24T09:00:00Z", "a", "task"),
                                              ("2026-11-25T09:00:00Z", "b", "send")]


def test_wait_up_to_for_an_event_resumes_on_it_or_after_the_duration():
    src = header() + """
    step a:
        send email "nurture"
        wait up to 2 days for login where event.contact == "c1"
        if count(login) > 0:
            task call "logged in"
        else:
            task call "silent"
"""
    contacts = [{"id": "c1"}, {"id": "c2"}]
    out = run(src, contacts, [enroll("c1", "2026-11-23T10:00:00Z"), enroll("c2", "2026-11-23T10:00:00Z"),
                              enroll("c1", "2026-11-24T07:13:00Z", "login"),
                              enroll("c2", "2026-11-24T07:13:00Z", "login")])
    tasks = [(a["at"], a["contact"], a["text"]) for a in out["actions"] if a["kind"] == "task"]
    # c2's login does not pass the `where`: its wait runs out, though it did log in
    assert tasks == [("2026-11-24T07:13:00Z", "c1", "logged in"), ("2026-11-25T10:00:00Z", "c2", "logged in")]


def test_if_elif_else_and_match_else_pick_one_branch():
    src = header() + """
    step a:
        if contact.ltv >= 5000:
            send email "tier_a_touch"
        elif contact.ltv >= 1000:
            send email "tier_b_touch"
        else:
            send email "tier_c_touch"
        match contact.seniority:
            case "c_suite", "vp":
                task call "exec"
            else:
                notify contact.owner "not an exec"
"""
    contacts = [{"id": "c1", "ltv": 9000, "seniority": "vp", "owner": "olga"},
                {"id": "c2", "ltv": 1000, "seniority": "ic", "owner": "olga"},
                {"id": "c3", "seniority": "manager", "owner": "pat"}]
    out = run(src, contacts, [enroll(c, "2026-11-23T10:00:00Z") for c in ("c1", "c2", "c3")])
    assert acts(out, "contact", "kind", "template") == [
        ("c1", "send", "tier_a_touch"), ("c1", "task", None), ("c2", "send", "tier_b_touch"),
        ("c2", "notify", None), ("c3", "send", "tier_c_touch"), ("c3", "notify", None)]
    assert [a["to"] for a in out["actions"] if a["kind"] == "notify"] == ["olga", "pat"]


def test_goto_applies_the_target_timing_from_now_and_end_as_names_the_outcome():
    src = header() + """
    step start:
        set vars.n = 0
    step loop after 2 days:
        set vars.n = vars.n + 1
        send email "nurture"
        if vars.n >= 3:
            end as exhausted
        goto loop
    step unreached:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert acts(out) == [("2026-11-25T10:00:00Z", "c1", "loop"), ("2026-11-27T10:00:00Z", "c1", "loop"),
                         ("2026-11-29T10:00:00Z", "c1", "loop")]
    assert outcomes(out) == [("c1", "p", "exhausted", "2026-11-29T10:00:00Z")]


def test_a_goto_loop_without_delay_fails_instead_of_hanging():
    src = header() + """
    step a:
        goto b
    step b:
        goto a
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert outcomes(out) == [("c1", "p", "failed", "2026-11-23T10:00:00Z")]


# ------------------------------------------------------------- expressions

def test_lets_count_last_and_days_since():
    src = header(extra="""
    let active = count(login, 7 days) >= 2
    let quiet_days = days_since(last(login))
""") + """
    step a:
        if active:
            send email "tier_a_touch"
        elif quiet_days != none and quiet_days >= 10:
            send email "reactivate_angle"
        else:
            send email "tier_c_touch"
"""
    contacts = [{"id": c} for c in ("c1", "c2", "c3")]
    history = [enroll("c1", "2026-11-20T10:00:00Z", "login"), enroll("c1", "2026-11-22T23:00:00Z", "login"),
               enroll("c2", "2026-11-12T10:00:00Z", "login"), enroll("c1", "2026-11-01T10:00:00Z", "login")]
    out = run(src, contacts, history + [enroll(c, "2026-11-23T10:00:00Z") for c in ("c1", "c2", "c3")],
              start="2026-11-01T00:00:00Z")
    assert acts(out, "contact", "template") == [("c1", "tier_a_touch"), ("c2", "reactivate_angle"),
                                                ("c3", "tier_c_touch")]


def test_datetime_arithmetic_and_none_in_conditions():
    src = header() + """
    step a:
        if contact.churned_at + 30 days > now():
            send email "winback_story"
        elif contact.churned_at == none:
            send email "nurture"
        else:
            send email "winback_last"
"""
    contacts = [{"id": "c1", "churned_at": datetime(2026, 11, 1, tzinfo=UTC)},
                {"id": "c2"}, {"id": "c3", "churned_at": datetime(2026, 9, 1, tzinfo=UTC)}]
    out = run(src, contacts, [enroll(c, "2026-11-23T10:00:00Z") for c in ("c1", "c2", "c3")])
    assert acts(out, "contact", "template") == [("c1", "winback_story"), ("c2", "nurture"), ("c3", "winback_last")]


# -------------------------------------------------------------- enrollment

def test_for_each_stakeholder_enrolls_those_the_where_admits_with_their_record():
    src = """playbook team:
    enroll on meeting_ended for each stakeholder where stakeholder.attended
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step a:
        match stakeholder.role:
            case "technical":
                send email "integration_deep_dive"
            else:
                send email "roi_summary"
"""
    contacts = [{"id": c} for c in ("c1", "c2", "c3")]
    deals = [{"id": "d1", "name": "N", "stage": "demo", "amount": 1, "stakeholders": [
        {"contact": "c1", "role": "technical", "attended": True},
        {"contact": "c2", "role": "economic", "attended": True},
        {"contact": "c3", "role": "champion", "attended": False}]}]
    out = run(src, contacts, [{"at": "2026-11-23T10:00:00Z", "type": "meeting_ended", "deal": "d1"}], deals)
    assert acts(out, "contact", "template", "deal") == [("c1", "integration_deep_dive", "d1"),
                                                        ("c2", "roi_summary", "d1")]


def test_one_running_enrollment_per_playbook_and_reenroll_never_by_default():
    src = header() + """
    step a:
        send email "nurture"
    step b after 2 days:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z"), enroll("c1", "2026-11-24T10:00:00Z"),
                        enroll("c1", "2026-11-28T10:00:00Z")])
    assert len(out["outcomes"]) == 1
    assert len(out["actions"]) == 2


def test_enroll_when_on_a_cron_schedule_with_reenroll_after():
    src = """playbook seg:
    enroll when contact.tier == "A" check cron "0 9 * * *"
    reenroll after 2 days
    timezone "America/New_York"
    stop on unsubscribed
    stop on bounced

    step touch:
        send email "tier_a_touch"
"""
    contacts = [{"id": "c1", "tier": "A"}, {"id": "c2", "tier": "B"}]
    out = run(src, contacts, [], start="2026-11-23T00:00:00Z", until="2026-11-28T00:00:00Z")
    # 09:00 New York = 14:00Z; ended at once, so back two days later
    assert acts(out) == [("2026-11-23T14:00:00Z", "c1", "touch"), ("2026-11-25T14:00:00Z", "c1", "touch"),
                         ("2026-11-27T14:00:00Z", "c1", "touch")]


def test_enroll_when_without_schedule_reacts_to_data_changes_at_once():
    src = """playbook seg:
    enroll when contact.tier == "A"
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step touch:
        send email "tier_a_touch"
"""
    contacts = [{"id": "c1", "tier": "B"}, {"id": "c2", "tier": "A"}]
    out = run(src, contacts, [{"at": "2026-11-25T13:37:00Z", "type": "update", "contact": "c1",
                               "set": {"tier": "A"}}])
    assert acts(out) == [("2026-11-23T00:00:00Z", "c2", "touch"), ("2026-11-25T13:37:00Z", "c1", "touch")]


def test_enroll_when_on_time_alone_is_checked_every_minute():
    src = """playbook lapse:
    enroll when days_since(contact.last_order_at) >= 30
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step nudge:
        send email "reactivate_value"
"""
    contacts = [{"id": "c1", "last_order_at": datetime(2026, 10, 25, 17, 45, tzinfo=UTC)}]
    out = run(src, contacts, [], start="2026-11-23T00:00:00Z", until="2026-11-26T00:00:00Z")
    assert acts(out) == [("2026-11-24T17:45:00Z", "c1", "nudge")]


def test_enroll_when_over_deals_enrolls_the_links_it_matches():
    src = """playbook big:
    enroll when deal.amount >= 50000 and stakeholder.role == "economic" check every 1 day
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step hello:
        send email "roi_summary"
"""
    contacts = [{"id": c} for c in ("c1", "c2")]
    deals = [{"id": "d1", "name": "N", "stage": "demo", "amount": 60000,
              "stakeholders": [{"contact": "c1", "role": "economic"}, {"contact": "c2", "role": "technical"}]}]
    out = run(src, contacts, [], deals, start="2026-11-23T06:00:00Z", until="2026-11-25T00:00:00Z")
    assert acts(out, "at", "contact", "deal") == [("2026-11-23T06:00:00Z", "c1", "d1")]


# ----------------------------------------------------- events and the store

def test_unknown_contacts_and_messages_are_kept_and_reported():
    src = header(extra="    stop on replied\n") + """
    step a:
        send email "nurture"
    step b after 1 day:
        send email "nurture"
"""
    engine = Engine(compile_src(src), CONFIG, MemoryStore())
    engine.add_contact(Contact("c1", {"id": "c1"}))
    t = datetime(2026, 11, 23, 10, tzinfo=UTC)
    engine.ingest(Event(t, "meeting_ended", "c1"))
    engine.ingest(Event(t + timedelta(hours=1), "opened", "ghost", step="a"))
    engine.ingest(Event(t + timedelta(hours=2), "replied", "c1", step="nonesuch", fields={"kind": "human"}))
    engine.run_until(t + timedelta(days=3))
    kept = [(e.type, e.contact) for e in engine.store.events()]
    assert ("opened", "ghost") in kept and ("replied", "c1") in kept
    messages = [m for _, m, _ in engine.warnings]
    assert any("unknown contact ghost" in m for m in messages)
    assert any("never sent" in m for m in messages)
    # an event naming no known message concerns the contact's enrollments
    (en,) = list(engine.store.enrollments())
    assert en.outcome == "stopped"


def test_action_records_have_unique_idempotency_keys_across_repeats():
    src = header() + """
    step ping every 1 day max 4:
        send email "nurture"
        task call "x"
"""
    engine = Engine(compile_src(src), CONFIG, MemoryStore())
    engine.add_contact(Contact("c1", {"id": "c1"}))
    engine.ingest(Event(datetime(2026, 11, 23, 10, tzinfo=UTC), "meeting_ended", "c1"))
    engine.run_until(datetime(2026, 12, 1, tzinfo=UTC))
    keys = [a.key for a in engine.store.actions()]
    assert len(keys) == 8 and len(set(keys)) == 8


def test_ticks_in_several_passes_decide_the_same_as_one_run():
    src = header(extra="    window weekdays 09:00-17:00\n    cap 1 per 2 days\n") + CAPS_STEPS

    def build():
        engine = Engine(compile_src(src), CONFIG, MemoryStore())
        engine.add_contact(Contact("c1", {"id": "c1"}))
        engine.ingest(Event(datetime(2026, 11, 23, 10, tzinfo=UTC), "meeting_ended", "c1"))
        return engine

    one = build()
    one.run_until(datetime(2026, 12, 20, tzinfo=UTC))
    many = build()
    t = datetime(2026, 11, 23, tzinfo=UTC)
    while t < datetime(2026, 12, 20, tzinfo=UTC):
        t += timedelta(hours=7)
        many.tick(t)
    assert [(a.at, a.step) for a in one.store.actions()] == [(a.at, a.step) for a in many.store.actions()]


@pytest.mark.parametrize("zeta_priority, first", [(50, "alpha"), (90, "zeta")])
def test_same_instant_order_is_priority_then_name(zeta_priority, first):
    def playbook(name, prio):
        return f"""playbook {name}:
    priority {prio}
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step s:
        if contact.tier == "A":
            send email "nurture"
        else:
            set contact.tier = "A"
            task call "first one here"

"""
    out = run(playbook("zeta", zeta_priority) + playbook("alpha", 50), [{"id": "c1", "tier": "B"}],
              [enroll("c1", "2026-11-23T10:00:00Z")])
    tasks = [a["playbook"] for a in out["actions"] if a["kind"] == "task"]
    assert tasks == [first]


def test_stop_across_deal_hears_any_stakeholder_of_the_deal():
    src = """playbook main:
    enroll on meeting_ended
    timezone "UTC"
    stop on unsubscribed
    stop on bounced

    step recap:
        send email "recap"

playbook team:
    enroll on meeting_ended for each stakeholder where not stakeholder.attended
    timezone "UTC"
    stop on replied across deal where event.kind == "human"
    stop on meeting_booked as converted
    stop on unsubscribed
    stop on bounced

    step a:
        send email "nurture"
    step b after 3 days:
        send email "nurture"
"""
    contacts = [{"id": c} for c in ("c1", "c2", "c3", "c4")]
    deals = [{"id": "d1", "name": "N", "stage": "demo", "amount": 1, "stakeholders": [
                 {"contact": "c1", "attended": True}, {"contact": "c2", "attended": False}]},
             {"id": "d2", "name": "M", "stage": "demo", "amount": 1, "stakeholders": [
                 {"contact": "c3", "attended": False}, {"contact": "c4", "attended": False}]}]
    events = [{"at": "2026-11-23T10:00:00Z", "type": "meeting_ended", "contact": "c1", "deal": "d1"},
              {"at": "2026-11-23T10:00:00Z", "type": "meeting_ended", "deal": "d2"},
              # c1 is not in `team`: its reply answers the `main` recap, yet ends d1's `team` enrollments
              enroll("c1", "2026-11-24T10:00:00Z", "replied", step="recap", kind="human"),
              # an event about the deal alone concerns every enrollment on the deal
              {"at": "2026-11-24T11:00:00Z", "type": "meeting_booked", "deal": "d2"}]
    out = run(src, contacts, events, deals)
    assert outcomes(out) == [("c1", "main", "completed", "2026-11-23T10:00:00Z"),
                             ("c2", "team", "stopped", "2026-11-24T10:00:00Z"),
                             ("c3", "team", "converted", "2026-11-24T11:00:00Z"),
                             ("c4", "team", "converted", "2026-11-24T11:00:00Z")]


def test_events_before_the_start_are_history_for_count_and_last():
    src = header() + """
    step a:
        if count(login) >= 2 and last(login) > now() - 10 days:
            send email "tier_a_touch"
        else:
            send email "tier_c_touch"
"""
    events = [enroll("c1", "2026-11-01T10:00:00Z", "login"), enroll("c1", "2026-11-20T10:00:00Z", "login"),
              enroll("c1", "2026-11-02T10:00:00Z")]  # an old meeting: it enrolls nobody
    out = run(src, C1, events + [enroll("c1", "2026-11-23T10:00:00Z")], start="2026-11-21T00:00:00Z")
    assert acts(out, "at", "template") == [("2026-11-23T10:00:00Z", "tier_a_touch")]


def test_an_unsubscribe_from_one_message_stops_every_playbook_of_the_contact():
    src = header("one") + """
    step hello:
        send email "nurture"
    step later after 3 days:
        send email "nurture"

""" + header("two") + """
    step other:
        send email "nurture"
    step later after 3 days:
        send email "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z"),
                        enroll("c1", "2026-11-24T10:00:00Z", "unsubscribed", step="hello")])
    assert outcomes(out) == [("c1", "one", "stopped", "2026-11-24T10:00:00Z"),
                             ("c1", "two", "stopped", "2026-11-24T10:00:00Z")]


# ------------------------------------------------- fixes found by the example scenarios

def test_enroll_on_respects_reenroll_after():
    src = ("playbook p:\n    enroll on meeting_ended\n    reenroll after 7 days\n    timezone \"UTC\"\n"
           "    stop on unsubscribed\n    stop on bounced\n    step a:\n        task call \"x\"\n")
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z"), enroll("c1", "2026-11-25T10:00:00Z"),
                        enroll("c1", "2026-11-30T10:00:00Z")])
    # the first run ends at once; 11-25 is within 7 days of that end, 11-30 is not
    assert [a[0] for a in acts(out)] == ["2026-11-23T10:00:00Z", "2026-11-30T10:00:00Z"]


@pytest.mark.parametrize("cond, enrolled", [
    ('event.source != "test"', False),   # source missing: a comparison with none is false
    ('event.source == "web"', False),
    ("event.source == none", True),       # the presence tests
    ("event.source != none", False),
    ('not (event.source == "test")', True),
])
def test_comparisons_with_none_are_false_except_presence_tests(cond, enrolled):
    src = (f"playbook p:\n    enroll on inquiry_received where {cond}\n    timezone \"UTC\"\n"
           "    stop on unsubscribed\n    stop on bounced\n    step a:\n        task call \"x\"\n")
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z", "inquiry_received")])
    assert bool(out["actions"]) is enrolled


def test_a_reached_total_cap_stops_even_a_task_step():
    src = header(extra="    cap 1 total\n") + """
    step a:
        send email "nurture"
    step b after 1 day:
        task call "after the cap"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "a")]
    assert outcomes(out) == [("c1", "p", "cap_reached", "2026-11-24T10:00:00Z")]


def test_a_channel_total_cap_only_stops_steps_sending_on_that_channel():
    src = header(extra="    cap sms 1 total\n") + """
    step a:
        send sms "nurture"
    step b after 1 day:
        send email "nurture"
    step c after 1 day:
        send sms "nurture"
"""
    out = run(src, C1, [enroll("c1", "2026-11-23T10:00:00Z")])
    assert acts(out) == [("2026-11-23T10:00:00Z", "c1", "a"), ("2026-11-24T10:00:00Z", "c1", "b")]
    assert outcomes(out) == [("c1", "p", "cap_reached", "2026-11-25T10:00:00Z")]


def test_an_unsubscribed_contact_is_never_enrolled_again_by_a_sending_playbook():
    src = ('playbook p:\n    enroll when contact.tier == "A" check every 1 day\n    reenroll after 1 day\n'
           '    timezone "UTC"\n    stop on unsubscribed\n    stop on bounced\n'
           '    step a:\n        send email "nurture"\n    step b after 2 days:\n        send email "nurture"\n')
    contacts = [{"id": "c1", "email": "c1@example.com", "first_name": "Ana", "tier": "A"}]
    out = run(src, contacts, [{"at": "2026-11-24T12:00:00Z", "type": "unsubscribed", "contact": "c1", "step": "a"}],
              start="2026-11-23T00:00:00Z", until="2026-12-10T00:00:00Z")
    assert [a[2] for a in acts(out)] == ["a"]  # stopped, and never enrolled again
    assert outcomes(out) == [("c1", "p", "stopped", "2026-11-24T12:00:00Z")]


def test_zone_read_from_the_deal_follows_the_deal():
    """A zone read from a deal field is looked up again for each step (the
    contact's version says nothing about the deal): the third step, scheduled
    when the second runs, is at 09:00 in the zone the deal names by then."""
    src = """\
playbook p:
    enroll on meeting_ended
    timezone deal.pain_point default "UTC"
    step first:
        task call "first"
    step second after 1 day:
        task call "second"
    step third at day 4 09:00:
        task call "third"
"""
    contacts = [{"id": "c1", "first_name": "A", "seniority": "vp", "tier": "A", "ltv": 1, "status": "active"}]
    deals = [{"id": "d1", "name": "N", "stage": "demo", "amount": 1, "pain_point": "UTC",
              "stakeholders": [{"contact": "c1", "role": "champion", "attended": True}]}]
    events = [{"at": "2026-11-23T10:00:00Z", "type": "meeting_ended", "contact": "c1", "deal": "d1"},
              {"at": "2026-11-24T10:00:00Z", "type": "update", "deal": "d1", "set": {"pain_point": "Asia/Tokyo"}}]
    out = run(src, contacts, events, deals)
    assert acts(out, "at", "step") == [("2026-11-23T10:00:00Z", "first"), ("2026-11-24T10:00:00Z", "second"),
                                       ("2026-11-26T00:00:00Z", "third")]  # 09:00 in Tokyo
