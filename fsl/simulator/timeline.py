"""The readable timeline of a simulation (`fsl simulate`, text format).

One line per decision, in the order the engine made them: UTC instant, the
contact's local time, who, and what -- actions, enrollments, deferrals with
their reason, pauses, stops and ends -- then the outcome of every enrollment
and the warnings.
"""
from __future__ import annotations

from datetime import datetime

from fsl.engine.engine import Engine
from fsl.engine.model import ActionRecord, JournalEntry
from fsl.engine.timing import iso
from fsl.timecalc import get_zone, resolve_zone

from .simulate import Simulation

# Journal kinds shown; `executed` is shown as its actions, `event` as is.
_SHOWN = {"enrolled", "holidays", "deferred", "paused", "resumed", "ended", "branch", "event", "update", "warning",
          "skipped"}


def _describe(a: ActionRecord) -> str:
    if a.kind == "send":
        text = f'send {a.channel} "{a.template}"'
        if a.offer is not None:
            exp = a.offer.get("expires")
            text += f" with offer {a.offer['percent']:g}%" + (f" until {iso(exp)}" if exp else "")
        return text
    if a.kind == "task":
        return f'task {a.channel} "{a.text}"' + (f" to {a.to}" if a.to else "") + f" due {iso(a.due)}"
    if a.kind == "notify":
        return f'notify {a.to} "{a.text}"'
    data = a.data or {}  # a set always holds its path and value
    return f"set {'.'.join(data['path'])} = {data['value']!r}"


class _Zones:
    """Each contact's local zone for display (per playbook when known)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.cache: dict[tuple, object] = {}

    def of(self, contact_id: str | None, playbook: str | None):
        key = (contact_id, playbook)
        if key not in self.cache:
            self.cache[key] = self._find(contact_id, playbook)
        return self.cache[key]

    def _find(self, contact_id, playbook):
        eng = self.engine
        contact = eng.store.get_contact(contact_id) if contact_id else None
        if playbook is None and contact is not None:  # an event: the zone of a playbook it runs
            runs = {en.playbook for en in eng.store.enrollments() if en.contact == contact_id}
            playbook = next((p.name for p in eng.ordered if p.name in runs), None)
        prog = eng.programs.get(playbook) if playbook else None
        if contact is not None and prog is not None and eng.now is not None:  # (a run has a clock)
            return eng.candidate_ctx(prog, contact, None, eng.now).zone
        project = getattr(eng.config, "timezone", None)
        value = contact.fields.get("timezone") if contact is not None else None
        return resolve_zone(value if get_zone(value) else None, None, project)


def _when(t: datetime, zone) -> str:
    local = t.astimezone(zone)
    return f"{iso(t)}  {local:%a %Y-%m-%d %H:%M} {zone.key}"


def timeline(sim: Simulation) -> str:
    eng = sim.engine
    zones = _Zones(eng)
    acts: dict[tuple, list[ActionRecord]] = {}
    for a in eng.store.actions():
        acts.setdefault((a.enrollment, a.at, a.step, a.line), []).append(a)
    scn = sim.scenario
    lines = [f"scenario {scn.path.name}: {iso(scn.start)} .. {iso(scn.until)}, "
             f"playbooks {', '.join(p.playbook for p in scn.plans)}", ""]
    for j in eng.store.journal_entries():
        if j.kind == "action":
            same = acts.get((j.enrollment, j.at, j.step, j.line))
            if same:
                lines.append(_row(j, zones, f"{j.step}: {_describe(same.pop(0))}"))
        elif j.kind in _SHOWN:
            lines.append(_row(j, zones, _text(j)))
    lines += ["", "outcomes:"]
    for en in sim.enrollments():
        if en.outcome is None:
            lines.append(f"  {en.contact} {en.playbook}: active, still running at until ({en.status})")
        else:
            lines.append(f"  {en.contact} {en.playbook}: {en.outcome} at {iso(en.ended_at)} ({en.reason})")
    if sim.warnings():
        lines += ["", "warnings:"]
        for at, message, line in sim.warnings():
            lines.append(f"  {iso(at)}" + (f" (line {line})" if line else "") + f": {message}")
    return "\n".join(lines) + "\n"


def _text(j: JournalEntry) -> str:
    text = j.reason
    if j.kind in ("deferred", "branch") and j.step:
        text = f"{j.step}: {text}"
    if j.line:
        text += f"  [line {j.line}]"
    return text


def _row(j: JournalEntry, zones: _Zones, text: str) -> str:
    who = " ".join(x for x in (j.contact, j.playbook) if x)
    return f"{_when(j.at, zones.of(j.contact, j.playbook))}  {who:<20} {text}"
