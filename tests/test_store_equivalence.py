"""The production runtime decides exactly what the simulator decides.

RUNTIME.md: same store state + same events + same clock = same decisions.
Every conformance scenario is run twice: by the simulator (memory store) and
by production ticks on a SQLite store (SqlStore, batches, transactions), and
the actions and outcomes must be identical -- with one big batch, with
batches of one enrollment, and ticking every few hours with delivery on.
The same runs on PostgreSQL when FSL_TEST_POSTGRES_URL (or the local test
server) is reachable.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from fsl.runtime.runtime import Runtime
from fsl.simulator.scenario import load_scenario
from fsl.simulator.simulate import action_json, outcome_json, simulate, to_json
from fsl.store import open_store
from fsl.store import plans as registry
from fsl.store.codec import epoch

from .conftest import CONFORMANCE

SCENARIOS = sorted((CONFORMANCE / "scenarios").glob("S*.yaml"))
PG_URL = os.environ.get("FSL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def production(scn, url: str, batch: int, every_hours: int = 0) -> dict:
    db = open_store(url)
    rt = Runtime(scn.config, db, batch_size=batch)
    try:
        with db.write() as conn:
            for p in scn.plans:
                registry.register(conn, p, None, None, epoch(scn.start))
                registry.set_current(conn, p, epoch(scn.start))
            registry.set_meta(conn, "clock", str(epoch(scn.start)))
        rt.put_contacts(scn.contacts, now=scn.start)
        rt.put_deals(scn.deals, now=scn.start)
        rt.record_events([e for e in scn.events if e.at < scn.start], history=True)
        rt.record_events([e for e in scn.events if scn.start <= e.at < scn.until])
        last = scn.until - timedelta(minutes=1)
        if every_hours:
            t = scn.start
            while t < last:
                t = min(t + timedelta(hours=every_hours), last)
                rt.tick(t)
        else:
            rt.tick(last, deliver=False)
        with rt.store.snapshot() as store:
            acts = sorted((a for a in store.actions() if a.kind in ("send", "task", "notify")),
                          key=lambda a: (a.at, a.contact, a.playbook))
            ens = sorted(store.enrollments(), key=lambda e: (e.contact, e.playbook, e.started_at, e.id))
            return {"actions": [action_json(a) for a in acts], "outcomes": [outcome_json(e) for e in ens]}
    finally:
        rt.close()


def expected(path: Path) -> dict:
    data = to_json(simulate(load_scenario(path)))
    data.pop("warnings")
    return data


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
@pytest.mark.parametrize("batch,every", [(500, 0), (1, 0), (3, 5)], ids=["one-batch", "batch-of-1", "ticks-5h"])
def test_sqlite_decides_like_the_simulator(path: Path, batch: int, every: int, tmp_path: Path) -> None:
    got = production(load_scenario(path), f"sqlite:///{tmp_path}/fsl.db", batch, every)
    assert got == expected(path)


def _postgres() -> str | None:
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                                  connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return PG_URL
    except Exception:  # noqa: BLE001 - no server here
        return None


@pytest.fixture
def pg_url():
    """A schema of its own in the test database, dropped afterwards."""
    url = _postgres()
    if url is None:
        pytest.skip("no PostgreSQL reachable")
    import sqlalchemy as sa

    schema = f"fsl_equiv_{os.getpid()}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


@pytest.mark.parametrize("path", [p for p in SCENARIOS if p.stem[:3] in ("S05", "S07", "S08", "S11", "S12")],
                         ids=lambda p: p.stem)
def test_postgresql_decides_like_the_simulator(path: Path, pg_url: str) -> None:
    got = production(load_scenario(path), pg_url, 2, 7)
    assert got == expected(path)
