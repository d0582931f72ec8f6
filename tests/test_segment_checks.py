"""`enroll when` checks moved on in SQL give the same enrollments as the engine alone.

Four segment shapes -- data-driven, every minute (days_since), `check cron`
on a windowed count, `check every 1 day` -- in contacts' own time zones,
with data and events changing between ticks.  The same timeline runs twice
on fresh stores, with the SQL pass-over (SqlStore.segment_sql) on and off;
the journals, enrollments and actions must be identical, and the pass-over
must have taken most of the checks off the engine.  On SQLite and on
PostgreSQL.
"""
from __future__ import annotations

import multiprocessing as mp
import random
from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest
import sqlalchemy as sa

from fsl.runtime.deploy import deploy
from fsl.runtime.runtime import Runtime
from fsl.engine.model import Contact, Event
from fsl.store.schema import actions, checks, enrollments, journal

from .test_ops_support import T0
from .test_pg_support import pg_urls  # noqa: F401 - the fixture

PLAYBOOKS = {
    "vip": """\
playbook vip:
    enroll when contact.tier == "A" and contact.score > 5
    reenroll after 2 hours
    step call:
        task call "VIP {{ contact.first_name }}"
    step again after 3 hours:
        task call "Again {{ contact.first_name }}"
""",
    "fresh": """\
playbook fresh:
    enroll when days_since(contact.signed) >= 2 and contact.tier != "C"
    timezone contact.timezone default "UTC"
    step call:
        task call "Fresh {{ contact.first_name }}"
""",
    "engaged": """\
playbook engaged:
    let warm = count(opened, 2 days) >= 1
    enroll when warm check cron "0 9 * * *"
    timezone contact.timezone default "UTC"
    reenroll after 1 day
    step call:
        task call "Engaged {{ contact.first_name }}"
""",
    "german": """\
playbook german:
    enroll when contact.country == "DE" check every 1 day
    timezone contact.timezone default "UTC"
    step call:
        task call "German {{ contact.first_name }}"
""",
}
CONFIG = """\
version: 1
sequences: sequences/
templates: templates/
store: sqlite:///fsl.db
timezone: UTC
schema:
  contact:
    first_name: string
    tier: string
    score: number
    country: string
    signed: datetime
events:
  opened: {}
channels:
  call: {adapter: task}
"""
ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu", "America/New_York", "Mars/Olympus"]
START = T0 - timedelta(hours=15)  # midnight UTC


def _person(rng: random.Random, i: int) -> Contact:
    fields = {"id": f"c{i:04d}", "first_name": f"P{i}", "timezone": rng.choice(ZONES)}
    if rng.random() < 0.8:
        fields["tier"] = rng.choice("ABC")
    if rng.random() < 0.8:
        fields["score"] = rng.randrange(11)
    fields["country"] = rng.choice(["DE", "FR", "US", "US", "US"])
    if rng.random() < 0.7:
        fields["signed"] = START + timedelta(minutes=rng.randrange(-4 * 1440, 2 * 1440))
    return Contact(fields["id"], fields)


def _project(folder: Path, names: list[str]) -> Path:
    (folder / "sequences").mkdir(parents=True)
    (folder / "templates").mkdir()
    for name, text in PLAYBOOKS.items():
        if name not in names:
            continue
        (folder / "sequences" / f"{name}.fsl").write_text(text)
    (folder / "fsl.yaml").write_text(CONFIG)
    return folder / "fsl.yaml"


def _tick(config: str, url: str | None, now_iso: str, out) -> None:
    """One worker's tick (in its own process)."""
    from datetime import datetime

    rt = Runtime.open(Path(config), store_url=url, batch_size=7)
    try:
        report = rt.tick(datetime.fromisoformat(now_iso), deliver=False)
        out.put((report.checks, report.checks_in_sql))
    finally:
        rt.close()


def _ticks(config: Path, url: str | None, now, workers: int) -> tuple[int, int]:
    """`workers` processes ticking to `now` at once; their summed check counts."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_tick, args=(str(config), url, now.isoformat(), out)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    got = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return sum(g[0] for g in got), sum(g[1] for g in got)


def _run(folder: Path, url: str | None, sql: bool, names: list[str], hours: tuple[int, int],
         workers: int = 1) -> tuple[dict, int, int]:
    """The timeline; returns (what happened, checks the engine made, checks done in SQL)."""
    rng = random.Random(11)
    config = _project(folder, names)
    rt = Runtime.open(config, store_url=url)
    rt.store.segment_sql = sql
    engine_checks = sql_checks = 0
    try:
        people = [_person(rng, i) for i in range(100)]
        first, last = hours
        rt.put_contacts(people, now=START + timedelta(hours=first))
        deploy(rt, [], now=START + timedelta(hours=first))
        for hour in range(first, last, 3):
            now = START + timedelta(hours=hour)
            changed = rng.sample(people, 10)
            for c in changed:
                c.fields["tier"] = rng.choice("ABC")
                c.fields["score"] = rng.randrange(11)
                if rng.random() < 0.3:
                    c.fields["country"] = rng.choice(["DE", "FR"])
            rt.put_contacts([Contact(c.id, dict(c.fields)) for c in changed], now=now)
            rt.record_events([Event(now + timedelta(minutes=rng.randrange(180)), "opened", c.id)
                              for c in rng.sample(people, 6)])
            if workers > 1:
                rt.close()
                counts = _ticks(config, url, now + timedelta(hours=3), workers)
                rt = Runtime.open(config, store_url=url)
            else:
                report = rt.tick(now + timedelta(hours=3), deliver=False)
                counts = (report.checks, report.checks_in_sql)
            engine_checks += counts[0]
            sql_checks += counts[1]
        with rt.db.read() as conn:
            seen = {
                "journal": sorted(tuple(r) for r in conn.execute(sa.select(
                    journal.c.at, journal.c.kind, journal.c.contact, journal.c.playbook, journal.c.step,
                    journal.c.reason))),
                "enrollments": sorted(tuple(r) for r in conn.execute(sa.select(
                    enrollments.c.playbook, enrollments.c.contact, enrollments.c.status, enrollments.c.wake_at))),
                "actions": sorted(tuple(r) for r in conn.execute(sa.select(  # not the key: it holds enrollment ids
                    actions.c.contact, actions.c.playbook, actions.c.step, actions.c.kind, actions.c.at))),
                "checks": sorted(tuple(r) for r in conn.execute(sa.select(
                    checks.c.playbook, checks.c.contact, checks.c.at).where(checks.c.playbook.in_(["engaged", "german"])))),
            }
    finally:
        rt.close()
    return seen, engine_checks, sql_checks


def _compare(folder: Path, url: Callable[[], str | None], names: list[str], hours: tuple[int, int],
             workers: int = 1) -> None:
    on = _run(folder / "on", url(), True, names, hours, workers)
    off = _run(folder / "off", url(), False, names, hours)
    (seen_on, engine_on, sql_on), (seen_off, engine_off, sql_off) = on, off
    assert sql_off == 0 and sql_on > 0
    enrolled = [j for j in seen_off["journal"] if j[1] == "enrolled"]
    assert {j[3] for j in enrolled} == set(names), "every shape enrolls someone"
    for part in ("journal", "enrollments", "actions"):
        assert seen_on[part] == seen_off[part], part
    # Unscheduled rows may differ (dropped or moved to the next minute in SQL where the
    # engine would have set them later); every scheduled row is at the same time.
    assert seen_on["checks"] == seen_off["checks"]
    assert engine_on * 3 < engine_off, (engine_on, engine_off)


# Hours after START: scheduled and data-driven shapes over a day and a half (two 09:00s
# in every zone); the every-minute shape over nine hours across UTC midnight (where
# `days_since` moves), an instant a minute: slow with the engine alone.
SHAPES = [(["vip", "engaged", "german"], (0, 36)), (["fresh", "vip"], (18, 27))]


@pytest.mark.parametrize("names,hours", SHAPES)
def test_sqlite_pass_over_changes_nothing(tmp_path: Path, names: list[str], hours: tuple[int, int]) -> None:
    _compare(tmp_path, lambda: None, names, hours)


def test_sqlite_pass_over_in_small_chunks_changes_nothing(tmp_path: Path, monkeypatch) -> None:
    """Chunks of 7 rows (pass-over) and 9 contacts (deploy), one transaction each."""
    from fsl.store import segment_checks

    monkeypatch.setattr(segment_checks, "CHUNK", 7)
    monkeypatch.setattr(segment_checks, "FIRST_CHUNK", 9)
    _compare(tmp_path, lambda: None, ["vip", "engaged", "german"], (0, 36))


@pytest.mark.parametrize("names,hours", SHAPES)
def test_postgresql_pass_over_changes_nothing(tmp_path: Path, pg_urls, names: list[str],  # noqa: F811
                                              hours: tuple[int, int]) -> None:
    _compare(tmp_path, pg_urls, names, hours)


def test_postgresql_pass_over_with_two_workers_changes_nothing(tmp_path: Path, pg_urls,  # noqa: F811
                                                               monkeypatch) -> None:
    """Two workers tick each instant at once (small batches, so their claims and
    pass-overs interleave; rows the other holds are skipped, never waited for):
    the same enrollments as one worker with the engine alone."""
    from fsl.store import segment_checks

    monkeypatch.setattr(segment_checks, "CHUNK", 5)  # forked workers inherit it: small interleaved chunks
    _compare(tmp_path, pg_urls, ["vip", "engaged", "german"], (0, 36), workers=2)


def test_every_minute_segment_sleeps_until_utc_midnight(tmp_path: Path) -> None:
    """`days_since` of a field only changes the pre-filter when the UTC date
    changes: a contact it excludes is not looked at each minute but at the
    next midnight, in SQL (and a playbook's tick has one instant a day, not 1440)."""
    rt = Runtime.open(_project(tmp_path, ["fresh"]))
    try:
        later = {"id": "c1", "first_name": "A", "timezone": "Asia/Kathmandu", "tier": "A",
                 "signed": START + timedelta(days=6)}
        never = {"id": "c2", "first_name": "B", "timezone": "UTC", "tier": "A"}  # no date: days_since is none
        rt.put_contacts([Contact("c1", later), Contact("c2", never)], now=START + timedelta(hours=10))
        deploy(rt, [], now=START + timedelta(hours=10))
        report = rt.tick(START + timedelta(hours=30), deliver=False)
        # 10:00 (deploy) and midnight; each time both rows move on in SQL, none reaches the engine
        assert (report.instants, report.checks, report.checks_in_sql) == (2, 0, 4)
        with rt.db.read() as conn:
            rows = conn.execute(sa.select(checks.c.contact, checks.c.at).order_by(checks.c.contact)).all()
        midnight = int((START + timedelta(days=2)).timestamp())
        assert rows == [("c1", midnight), ("c2", midnight)]
    finally:
        rt.close()
