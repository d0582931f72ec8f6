"""The report over the production SQL store (fsl/store/) gives the same
figures as over the simulator's memory store: it reads only the `Store`
protocol.  The simulated store of tests/fixtures/report/scenario.yaml is
copied into an SQLite store through that protocol, with its plans
registered and the runtime's clock set to the scenario's end.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fsl.cli.main import main
from fsl.report import build_report
from fsl.report.sources import from_scenario, sql_source

store_pkg = pytest.importorskip("fsl.store")

FIXTURES = Path(__file__).parent / "fixtures" / "report"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    from fsl.store import plans as registry
    from fsl.store.codec import epoch

    src = from_scenario(FIXTURES / "scenario.yaml")
    mem = src.store
    url = f"sqlite:///{tmp_path_factory.mktemp('sql') / 'fsl.db'}"
    db = store_pkg.open_store(url)
    sql = store_pkg.SqlStore(db)
    with sql.transaction():
        for cid in mem.contact_ids():
            sql.put_contact(mem.get_contact(cid))
        for en in mem.enrollments():
            sql.add_enrollment(en)
        for a in mem.actions():
            sql.add_action(a)
        for e in mem.events():
            sql.add_event(e)
        for j in mem.journal_entries():
            sql.journal(j)
    with db.write() as conn:
        for plan in src.plans:
            registry.register(conn, plan, None, None, 0)
            registry.set_current(conn, plan, 0)
        registry.set_meta(conn, "clock", str(epoch(src.as_of)))
    yield src, db, url
    db.dispose()


def test_same_report_from_the_sql_store(filled):
    src, db, _ = filled
    sql = sql_source(db, src.config, "sql")
    assert sql.as_of == src.as_of  # the runtime's clock
    assert sorted(p.playbook for p in sql.plans) == ["followup", "nudge", "winback"]
    with sql.reading():
        from_sql = build_report(sql.store, as_of=sql.as_of, plans=sql.plans, config=sql.config, source="x")
    from_memory = build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config, source="x")
    # "accepted by the mail server" exists only where there is one: none in a
    # simulation, zero in this store (its copied actions were never handed over)
    sql_dump, accepted = _without_accepted(from_sql.model_dump(mode="json"))
    memory_dump, simulated = _without_accepted(from_memory.model_dump(mode="json"))
    assert set(accepted) == {0} and set(simulated) == {None}
    assert sql_dump == memory_dump
    assert from_sql.winback.revenue == 3500 and from_sql.execution.total.deferred == 5


def test_cli_reads_the_store_of_the_project(filled, monkeypatch):
    _, _, url = filled
    monkeypatch.setenv("FSL_STORE", url)
    res = CliRunner().invoke(main, ["report", "--config", str(FIXTURES / "fsl.yaml"), "--format", "json",
                                    "--playbook", "winback"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["as_of"] == "2026-12-22T00:00:00Z" and data["source"].startswith("store sqlite:///")
    assert (data["winback"]["won_back"], data["winback"]["rechurned"]) == (3, 1)


def test_a_store_without_schema_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FSL_STORE", f"sqlite:///{tmp_path / 'empty.db'}")
    res = CliRunner().invoke(main, ["report", "--config", str(FIXTURES / "fsl.yaml")])
    assert res.exit_code == 2
    assert res.stderr.startswith("fsl report: ")


def _without_accepted(data, found=None):
    """`data` with every `accepted` figure taken out, and the figures taken."""
    found = [] if found is None else found
    if isinstance(data, dict):
        if "accepted" in data:
            found.append(data["accepted"])
        return {k: _without_accepted(v, found)[0] for k, v in data.items() if k != "accepted"}, found
    if isinstance(data, list):
        return [_without_accepted(v, found)[0] for v in data], found
    return data, found
