"""`split_sends` (schema v15) lists the sends made inside a split's variants,
written with them, so that a split's test reads them without an index of
every send: the list gives what the v11 index query gave, after a tick and
after the upgrade of a store that holds sends written before it existed."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from fsl.simulator.scenario import load_scenario
from fsl.store import open_store, upgrade
from fsl.store.codec import loads
from fsl.store.db import Database
from fsl.store.migrations import _stamp
from fsl.store.schema import actions, split_sends
from fsl.store.sqlstore import SqlStore

from .test_pg_support import pg_url  # noqa: F401 - the fixture
from .test_store_equivalence import production

PICK = Path(__file__).parent / "fixtures" / "experiments" / "pick.yaml"


def _by_index_query(db, playbook: str, step: str) -> list[str]:
    """What split_sends gave before v15, through ix_actions_sends: the step's sends not
    cancelled, in id order, those carrying a split's tag."""
    a = actions.c
    with db.read() as conn:
        rows = conn.execute(sa.select(a.key, a.payload).where(
            a.playbook == playbook, a.step == step, a.kind == "send", a.status != "cancelled").order_by(a.id)).all()
    return [key for key, payload in rows if "split" in ((loads(payload) or {}).get("data") or {})]


def _listed(db, playbook: str, step: str) -> list[str]:
    with SqlStore(db).snapshot() as store:
        return ["{}:{}:{}:{}".format(*rec.key) for rec in store.split_sends(playbook, step)]


def _steps(db) -> list[tuple[str, str]]:
    a = actions.c
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(a.playbook, a.step).where(a.kind == "send").distinct())]


def _check_equal(db) -> int:
    total = 0
    for playbook, step in _steps(db):
        want = _by_index_query(db, playbook, step)
        assert _listed(db, playbook, step) == want, (playbook, step)
        total += len(want)
    return total


def _downgrade_to_14(url: str) -> None:
    """The store as schema v14 held it: no split_sends, the two indexes of every send."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE split_sends")
        conn.exec_driver_sql("DROP INDEX ix_actions_legacy_message_id")
        conn.exec_driver_sql("CREATE INDEX ix_actions_message_id ON actions (message_id)")
        conn.exec_driver_sql("CREATE INDEX ix_actions_sends ON actions (playbook, step) WHERE kind = 'send'")
        _stamp(conn, 14)
    engine.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_split_sends_lists_what_the_index_query_found(dialect, tmp_path, request):
    url = f"sqlite:///{tmp_path}/fsl.db" if dialect == "sqlite" else request.getfixturevalue("pg_url")
    scn = load_scenario(PICK)
    production(scn, url, 40, 0)
    db = open_store(url)
    try:
        with db.write() as conn:  # a stop rule cancelled one before it left; a task is no send
            first = conn.execute(sa.select(split_sends.c.action_key).order_by(split_sends.c.action_key)).scalar()
            conn.execute(actions.update().where(actions.c.key == first).values(status="cancelled"))
        listed = _check_equal(db)
        with db.read() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(split_sends)).scalar()
            untagged = conn.execute(sa.select(sa.func.count()).select_from(actions).where(
                actions.c.kind == "send", actions.c.key.not_in(sa.select(split_sends.c.action_key)))).scalar()
        assert listed > 20 and stored == listed + 1  # the cancelled one stays listed; reading skips it
        assert untagged > 0  # the sends outside the split are not listed
    finally:
        db.dispose()


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_upgrade_lists_the_split_sends_already_stored(dialect, tmp_path, request):
    url = f"sqlite:///{tmp_path}/fsl.db" if dialect == "sqlite" else request.getfixturevalue("pg_url")
    production(load_scenario(PICK), url, 40, 0)
    db = open_store(url)
    try:
        with db.read() as conn:
            before = sorted(tuple(r) for r in conn.execute(sa.select(split_sends)))
    finally:
        db.dispose()
    assert before
    _downgrade_to_14(url)
    db = Database(url)
    try:
        _, after, ran = upgrade(db)
        assert [m.version for m in ran][:1] == [15]  # (and any later ones)
        with db.read() as conn:
            assert sorted(tuple(r) for r in conn.execute(sa.select(split_sends))) == before
        assert _check_equal(db) == len(before)
    finally:
        db.dispose()
