"""Property tests of the simulator over generated playbooks, contacts and
event streams: the invariants RUNTIME.md promises whatever the input."""
from __future__ import annotations

import bisect
import re
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsl.compiler import compile_module
from fsl.config import load_config
from fsl.engine.evaluate import add
from fsl.engine.model import ENDED, Contact, Event
from fsl.simulator.scenario import Scenario
from fsl.simulator.simulate import Simulation, simulate, to_json
from fsl.timecalc import is_allowed
from fsl.syntax.parser import parse_module

UTC = timezone.utc
SUITE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
START = datetime(2026, 11, 20, tzinfo=UTC)  # Thanksgiving falls inside
UNTIL = START + timedelta(days=24)


def _config():
    """The conformance project with a global cap, so global caps are exercised."""
    folder = Path(tempfile.mkdtemp(prefix="fsl-props-"))
    text = (SUITE / "fsl.yaml").read_text().replace("caps: []", "caps:\n  - {limit: 3, per: 2 days}")
    (folder / "fsl.yaml").write_text(text.replace("templates: templates/", f"templates: {SUITE / 'templates'}/"))
    config, diags = load_config(folder / "fsl.yaml")
    assert not diags, diags
    return config


CONFIG = _config()
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata"]

# ---------------------------------------------------------------- strategies

window_range = st.builds(
    lambda days, start, length: f"{days} {start:02d}:00-{min(start + length, 23):02d}:30",
    st.sampled_from(["mon-fri", "daily", "weekends", "tue", "sat"]),
    st.integers(6, 14), st.integers(1, 8))

timing = st.sampled_from(["", " after 3 hours", " after 20 hours", " after 1 day", " after 2 days",
                          " after 1 business day", " every 1 day max 2", " at cron \"0 10 * * *\""])


@st.composite
def actions(draw, prev: str | None):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["email", "sms", "task", "if", "wait", "offer", "set", "wait_for"]))
        if kind in ("email", "sms"):
            out.append(f'send {kind} "nurture"')
        elif kind == "task":
            out.append('task call "call them"')
        elif kind == "if":
            test = f"opened({prev})" if prev else "contact.tier == \"A\""
            out.append(f'if {test} or vars.x == 1:\n            send email "short_angle"\n'
                       f'        else:\n            task linkedin "connect"')
        elif kind == "wait":
            out.append(f"wait {draw(st.sampled_from(['2 hours', '1 day']))}")
        elif kind == "offer":
            out.append('offer discount 10% expires 3 days\n        send email "winback_offer"')
        elif kind == "set":
            out.append("set vars.x = 1")
        elif kind == "wait_for":
            out.append('wait up to 1 day for opened\n        send email "nurture"')
    return out


@st.composite
def playbooks(draw):
    lines = ["playbook gen:"]
    if draw(st.booleans()):
        lines.append("    enroll on meeting_ended")
    else:
        lines += ['    enroll when contact.tier == "A" check cron "0 9 * * *"', "    reenroll after 3 days"]
    lines.append("    timezone " + draw(st.sampled_from(['"UTC"', '"America/New_York"', '"Asia/Kolkata"',
                                                         'contact.timezone default "Europe/Berlin"'])))
    if draw(st.booleans()):
        lines.append("    window " + ", ".join(draw(st.lists(window_range, min_size=1, max_size=2))))
    if draw(st.booleans()):
        lines.append('    skip holidays "' + draw(st.sampled_from(["US", "DE"])) + '"')
    lines += ["    offer max 20%"]
    lines += draw(st.lists(st.sampled_from(["    cap 1 per 1 day", "    cap 2 per 2 days", "    cap email 1 per 12 hours",
                                            "    cap 3 total", "    cap sms 1 per 3 days", "    cap call 1 per 1 day"]),
                           unique=True, max_size=3))
    lines += ['    stop on replied where event.kind == "human"', "    stop on unsubscribed", "    stop on bounced"]
    lines.append(draw(st.sampled_from([
        "", '    pause on replied where event.kind == "out_of_office" for 2 days',
        '    pause on replied where event.kind == "out_of_office" until event.return_date default 3 days'])))
    if draw(st.booleans()):
        lines.append('    stop when contact.tier == "C" as downgraded')
    names: list[str] = []
    for i in range(draw(st.integers(1, 5))):
        name = f"s{i}"
        lines.append(f"\n    step {name}{draw(timing)}:")
        lines += ["        " + a for a in draw(actions(names[-1] if names else None))]
        names.append(name)
    return "\n".join(lines) + "\n", names


@st.composite
def worlds(draw):
    src, steps = draw(playbooks())
    n = draw(st.integers(1, 3))
    contacts = [Contact(f"c{i}", {"id": f"c{i}", "timezone": draw(st.sampled_from(ZONES)),
                                  "tier": draw(st.sampled_from(["A", "B"]))}) for i in range(n)]
    minutes = st.integers(0, 20 * 24 * 60).map(lambda m: START + timedelta(minutes=m))
    events = [Event(draw(minutes), "meeting_ended", c.id) for c in contacts if draw(st.booleans()) or True]
    for _ in range(draw(st.integers(0, 6))):
        cid = f"c{draw(st.integers(0, n - 1))}"
        kind = draw(st.sampled_from(["replied", "opened", "unsubscribed", "update", "replied"]))
        at = draw(minutes)
        if kind == "update":
            events.append(Event(at, "update", cid, fields={"set": {"tier": draw(st.sampled_from(["A", "C"]))}}))
        elif kind == "replied":
            reply = draw(st.sampled_from(["human", "out_of_office", "auto_reply"]))
            fields = {"kind": reply}
            if reply == "out_of_office" and draw(st.booleans()):
                fields["return_date"] = (at + timedelta(days=draw(st.integers(1, 5)))).date()
            events.append(Event(at, "replied", cid, step=draw(st.sampled_from(steps)), fields=fields))
        else:
            events.append(Event(at, kind, cid, step=draw(st.sampled_from(steps)) if kind == "opened" else None))
    return src, contacts, events


def run_world(world) -> Simulation:
    src, contacts, events = world
    module, diags = parse_module(src, "gen.fsl")
    assert not [d for d in diags if d.is_error], (src, diags)
    plans = compile_module(module, CONFIG)
    fresh_contacts = [Contact(c.id, dict(c.fields)) for c in contacts]
    fresh_events = [Event(e.at, e.type, e.contact, e.deal, e.step, dict(e.fields)) for e in events]
    return simulate(Scenario(Path("gen.yaml"), plans, CONFIG, START, UNTIL, fresh_contacts, [], fresh_events))


# -------------------------------------------------------------- invariants

def _zone(sim: Simulation, contact_id: str):
    eng = sim.engine
    prog = eng.programs["gen"]
    return eng.candidate_ctx(prog, eng.store.get_contact(contact_id), None, START).zone


def check_windows(sim: Simulation) -> None:
    prog = sim.engine.programs["gen"]
    for a in sim.store.actions():
        assert is_allowed(a.at, _zone(sim, a.contact), prog.window, prog.holidays), a


def check_caps(sim: Simulation) -> None:
    eng = sim.engine
    prog = eng.programs["gen"]
    acts = [a for a in sim.store.actions() if a.kind in ("send", "task", "notify")]
    for cap in prog.caps_rolling + eng.global_caps + prog.caps_total:
        groups: dict = {}
        for a in acts:
            if cap.counts(a.kind, a.channel):
                key = a.enrollment if cap.per is None else a.contact
                groups.setdefault(key, []).append(a.at)
        for key, times in groups.items():
            times.sort()
            if cap.per is None:
                assert len(times) <= cap.limit, (cap, key, times)
                continue
            zone = _zone(sim, key)
            for t in times:
                lower = add(t, cap.per, zone, prog.holidays, -1)
                inside = bisect.bisect_right(times, t) - bisect.bisect_right(times, lower)
                assert inside <= cap.limit, (cap.describe(), key, t, times)


_PAUSED = re.compile(r"paused until (\S+):")


def check_stops_and_pauses(sim: Simulation) -> None:
    by_enrollment: dict = {}
    for a in sim.store.actions():
        by_enrollment.setdefault(a.enrollment, []).append(a.at)
    pauses: dict = {}
    for j in sim.store.journal_entries():
        if j.kind == "paused":
            until = datetime.fromisoformat(_PAUSED.search(j.reason).group(1).replace("Z", "+00:00"))
            pauses.setdefault(j.enrollment, []).append((j.at, until))
    for en in sim.store.enrollments():
        times = by_enrollment.get(en.id, [])
        assert all(t >= en.started_at for t in times)
        if en.status == ENDED:
            if en.reason.startswith("stop on"):
                assert all(t < en.ended_at for t in times), (en, times)
            else:
                assert all(t <= en.ended_at for t in times), (en, times)
        for begin, until in pauses.get(en.id, []):
            assert not any(begin <= t < until for t in times), (en, begin, until, times)


def check_outcomes(sim: Simulation) -> None:
    ended = {}
    for j in sim.store.journal_entries():
        if j.kind == "ended":
            assert j.enrollment not in ended, "an enrollment ended twice"
            ended[j.enrollment] = j
    enrollments = list(sim.store.enrollments())
    for en in enrollments:
        if en.status == ENDED:
            assert en.id in ended and en.outcome and en.ended_at is not None
        else:
            assert en.id not in ended and en.outcome is None
    assert len(to_json(sim)["outcomes"]) == len(enrollments)
    running = [en.contact for en in enrollments if en.status != ENDED]
    assert len(running) == len(set(running)), "two running enrollments of one contact"


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(worlds())
def test_invariants_hold_for_any_playbook_and_event_stream(world):
    sim = run_world(world)
    check_windows(sim)
    check_caps(sim)
    check_stops_and_pauses(sim)
    check_outcomes(sim)


@settings(max_examples=20, deadline=None)
@given(worlds())
def test_the_same_input_gives_the_same_timeline(world):
    a, b = run_world(world), run_world(world)
    assert to_json(a) == to_json(b)
    assert [(j.at, j.kind, j.reason) for j in a.store.journal_entries()] == \
           [(j.at, j.kind, j.reason) for j in b.store.journal_entries()]
