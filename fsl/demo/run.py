"""`fsl demo`: the example playbooks run by the production runtime on simulated days.

The folder it makes is an ordinary project: the example playbooks, their
templates and fsl.yaml (copied), the sample data as JSON Lines and CSV, the
SQLite store `fsl.db`, and `outbox/` where every email and SMS lands as an
`.eml` file.  The run is the real thing -- `deploy`, then one `tick` per
simulated hour with the wall clock replaced by the simulated one -- plus the
contacts' reactions (engagement.py) fed back as events, and reps ticking off
most of their tasks.  Afterwards `fsl status`, `fsl explain c001` and
`fsl tasks` work in that folder.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from fsl.delivery.context import jsonable
from fsl.engine.timing import iso
from fsl.store import open_store
from fsl.store.codec import epoch, instant
from fsl.store.queries import mark_done
from fsl.store.schema import actions, enrollments, events, tasks

from . import data as demo_data
from .engagement import completes, reactions

UTC = timezone.utc
MARKER = ".fsl-demo"
# One copy of the example playbooks: the repository's sequences/. A wheel carries it
# as fsl/demo/sequences (setup.py copies it at build time); a checkout reads it in place.
PACKAGED = Path(__file__).resolve().parent / "sequences"
REPO = Path(__file__).resolve().parents[2] / "sequences"
DEFAULT_START = datetime(2026, 11, 9, 6, 0, tzinfo=UTC)  # a Monday; Thanksgiving falls inside


class DemoError(Exception):
    pass


@dataclass
class DemoResult:
    out: Path
    start: datetime
    end: datetime
    days: int
    seed: int
    contacts: int = 0
    deals: int = 0
    ticks: int = 0
    playbooks: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "start": iso(self.start), "end": iso(self.end), "days": self.days,
                "seed": self.seed, "contacts": self.contacts, "deals": self.deals, "ticks": self.ticks,
                "playbooks": self.playbooks, "timeline": self.timeline, "files": self.files,
                "deliveries": self.deliveries, "seconds": round(self.seconds, 2)}


def sequences_source() -> Path:
    """The repository's sequences/ in a checkout (always current), else the packaged copy."""
    return REPO if (REPO / "fsl.yaml").is_file() else PACKAGED


def prepare(out: Path, source: Path | None = None) -> None:
    """Make `out` a fresh demo project (refusing a non-empty folder that is not one)."""
    if out.exists() and not out.is_dir():
        raise DemoError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise DemoError(f"{out} is not empty and was not made by `fsl demo`; choose another --out")
    if out.is_dir():
        shutil.rmtree(out)
    source = source or sequences_source()
    shutil.copytree(source, out, ignore=shutil.ignore_patterns("fsl.db*", "__pycache__", "*.pyc"))
    (out / MARKER).write_text("made by `fsl demo`; running it again replaces this folder\n")


def run(out: Path, *, days: int = 30, seed: int = 7, start: datetime = DEFAULT_START, tick_minutes: int = 60,
        source: Path | None = None, progress: Callable[[int, int, dict], None] | None = None) -> DemoResult:
    from fsl.project import Project

    from fsl.runtime.deploy import deploy
    from fsl.delivery.channels.eml import EmlAdapter
    from fsl.runtime.runtime import Runtime

    began = time.perf_counter()
    prepare(out, source)
    project = Project.load(out / "fsl.yaml")
    if project.config is None or project.config_diags:
        raise DemoError("the example project file does not load")
    config = project.config
    sample = demo_data.generate(seed, start, days)
    _write_data(out, sample)
    db = open_store(config.store)
    sinks = {name: EmlAdapter(out / "outbox", ch) for name, ch in config.channels.items()
             if ch.adapter in ("smtp", "webhook")}
    rt = Runtime(config, db, project.templates, adapters=sinks, llm_placeholder=True)  # never calls a model
    result = DemoResult(out, start, start + timedelta(days=days), days, seed)
    try:
        deploy(rt, [out], now=start)
        result.contacts = rt.put_contacts(sample.contacts, now=start)
        result.deals = rt.put_deals(sample.deals, now=start)
        rt.record_events(sample.history, history=True)
        rt.record_events(sample.events)
        links: dict[str, list[str]] = {}
        step = timedelta(minutes=tick_minutes)
        t, per_day, day = start, max(1, (24 * 60) // tick_minutes), 0
        while t < result.end:
            t = min(t + step, result.end)
            report = rt.tick(t)
            result.ticks += 1
            _react(rt, seed, t, links)
            _work_tasks(rt, seed, t)
            if progress is not None and result.ticks % per_day == 0:
                day += 1
                progress(day, days, report.to_json())
        _summarise(rt, result, ZoneInfo(config.timezone))
    finally:
        rt.close()
    result.files = {ch: len(list((out / "outbox" / ch).glob("*.eml"))) for ch in sinks
                    if (out / "outbox" / ch).is_dir()}
    result.seconds = time.perf_counter() - began
    (out / "summary.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _write_data(out: Path, sample: demo_data.DemoData) -> None:
    with (out / "contacts.jsonl").open("w") as f:
        for c in sample.contacts:
            f.write(json.dumps(jsonable(c.fields)) + "\n")
    columns = list(sample.contacts[0].fields)
    with (out / "contacts.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        for c in sample.contacts:
            w.writerow({k: "" if v is None else jsonable(v) for k, v in c.fields.items()})
    with (out / "deals.jsonl").open("w") as f:
        for d in sample.deals:
            stakes = [{"contact": cid, **s} for cid, s in d.stakeholders.items()]
            f.write(json.dumps({**jsonable(d.fields), "stakeholders": stakes}) + "\n")
    with (out / "events.jsonl").open("w") as f:
        for e in sorted(sample.history + sample.events, key=lambda e: e.at):
            row = {"at": iso(e.at), "type": e.type, "contact": e.contact, "deal": e.deal, **jsonable(e.fields)}
            f.write(json.dumps({k: v for k, v in row.items() if v is not None}) + "\n")


def _react(rt, seed: int, now: datetime, links: dict[str, list[str]]) -> None:
    """The reactions to the messages delivered by this tick."""
    a = actions.c
    with rt.db.read() as conn:
        rows = conn.execute(sa.select(a.key, a.at, a.contact, a.deal, a.playbook, a.step, a.channel, a.template)
                            .where(a.status == "delivered", a.kind == "send", a.delivered_at == epoch(now))
                            .order_by(a.id)).mappings().all()
    new = []
    for r in rows:
        msg = dict(r)
        msg["at"] = instant(r["at"])
        if r["template"] not in links:
            try:
                links[r["template"]] = sorted(rt.templates.lookup(r["template"]).links)
            except Exception:  # noqa: BLE001 - a template that vanished: no links
                links[r["template"]] = []
        new.extend(reactions(seed, msg, links[r["template"]], now + timedelta(minutes=1)))
    if new:
        rt.record_events(new)


def _work_tasks(rt, seed: int, now: datetime) -> None:
    """Reps tick off most tasks within a couple of hours of their due time."""
    from fsl.engine.model import Event

    done = []
    with rt.db.write() as conn:
        due = conn.execute(sa.select(tasks.c.id, tasks.c.contact, tasks.c.deal, tasks.c.kind)
                           .where(tasks.c.status == "open", tasks.c.due_at <= epoch(now - timedelta(hours=2)))).all()
        for task_id, contact, deal, kind in due:
            if completes(seed, task_id) and mark_done(conn, task_id, now):
                done.append(Event(now, "task_completed", contact, deal, None, {"task": task_id, "kind": kind}))
    if done:
        rt.record_events(done)


def _summarise(rt, result: DemoResult, zone: ZoneInfo) -> None:
    books: dict[str, dict[str, Any]] = {}
    days: dict[str, dict[str, int]] = {}
    task_channels = {n for n, ch in rt.config.channels.items() if ch.adapter in ("task", "notify")}

    def day_of(t: int) -> dict[str, int]:
        key = instant(t).astimezone(zone).date().isoformat()
        return days.setdefault(key, {})

    def book(name: str) -> dict[str, Any]:
        return books.setdefault(name, {"playbook": name, "enrolled": 0, "active": 0, "sends": {}, "tasks": 0,
                                       "notifications": 0, "outcomes": {}, "delivery": {}})

    with rt.db.read() as conn:
        for r in conn.execute(sa.select(enrollments.c.playbook, enrollments.c.status, enrollments.c.outcome,
                                        enrollments.c.started_at, enrollments.c.ended_at)):
            b = book(r.playbook)
            b["enrolled"] += 1
            _inc(day_of(r.started_at), "enrolled")
            if r.status == "ended":
                _inc(b["outcomes"], r.outcome or "?")
                _inc(day_of(r.ended_at), "ended")
            else:
                b["active"] += 1
        for r in conn.execute(sa.select(actions.c.playbook, actions.c.kind, actions.c.channel, actions.c.status,
                                        actions.c.at).where(actions.c.kind != "set")):
            b = book(r.playbook)
            d = day_of(r.at)
            _inc(b["delivery"], r.status)
            _inc(result.deliveries, r.status)
            if r.kind == "send" and r.channel not in task_channels:
                _inc(b["sends"], r.channel)
                _inc(d, r.channel)
            elif r.kind == "notify":
                b["notifications"] += 1
                _inc(d, "notify")
            else:
                b["tasks"] += 1
                _inc(d, "tasks")
        for r in conn.execute(sa.select(events.c.type, events.c.at).where(events.c.status == "done",
                                                                           events.c.at >= epoch(result.start))):
            _inc(day_of(r.at), r.type)
    result.playbooks = sorted(books.values(), key=lambda b: b["playbook"])
    result.timeline = [{"day": k, **v} for k, v in sorted(days.items())]


def _inc(d: dict, key: str, n: int = 1) -> None:
    d[key] = d.get(key, 0) + n

