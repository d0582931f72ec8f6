"""A stop marks the enrollment's claimed messages (fsl/runtime/withdrawal.py): the
outbox skips them, `recover` cancels them instead of handing them over again, and
`ingest_now`'s wait ends only when none is still on its way."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fsl.engine.model import Event
from fsl.runtime.claims import owner_token, recover
from fsl.runtime.withdrawal import StillHandingOver, await_withdrawn, withdrawn_before_hand_over
from fsl.store.schema import actions

from .test_ops_support import T0, make_project, populate, runtime

DEAD = "nohost-that-exists:1:1:deadbeef"  # another machine's claim: only its lease can tell


@pytest.fixture
def rt(tmp_path):
    config = make_project(tmp_path)
    populate(config, 3)
    rt = runtime(config)
    rt.tick(T0 + timedelta(minutes=1), deliver=False)  # one pending `hello` per contact
    yield rt
    rt.close()


def claim(rt, contact: str, *, token: str, lease: int, marked: bool) -> str:
    a = actions.c
    with rt.db.write() as conn:
        key = conn.execute(sa.select(a.key).where(a.contact == contact, a.step == "hello")).scalar_one()
        conn.execute(actions.update().where(a.key == key).values(
            status="sending", claimed_by=token, lease_until=lease,
            last_error="withdraw: stop on replied" if marked else None))
    return key


def status(rt, key: str) -> str:
    with rt.db.read() as conn:
        return conn.execute(sa.select(actions.c.status).where(actions.c.key == key)).scalar_one()


def test_a_stop_marks_the_claimed_message_and_the_outbox_skips_it(rt, monkeypatch):
    monkeypatch.setattr("fsl.runtime.withdrawal.WAIT_SECONDS", 0.2)  # a live claim that never settles
    token = owner_token()
    key = claim(rt, "c0001", token=token, lease=int(time.time()) + 600, marked=False)
    assert not withdrawn_before_hand_over(rt.db, key, token)  # not stopped: it goes
    with rt.db.read() as conn:
        assert conn.execute(sa.select(actions.c.last_error).where(actions.c.key == key)).scalar() is None
    # the stop, while the message is claimed: marked, and the wait ends only when it has settled
    with pytest.raises(StillHandingOver):
        rt.ingest_now([Event(T0 + timedelta(minutes=2), "replied", "c0001", fields={"kind": "human"})],
                      T0 + timedelta(minutes=2))
    with rt.db.read() as conn:
        assert conn.execute(sa.select(actions.c.last_error).where(actions.c.key == key)).scalar().startswith(
            "withdraw: ")
    assert withdrawn_before_hand_over(rt.db, key, token)  # the tick's last look: not handed over
    assert status(rt, key) == "cancelled"
    await_withdrawn(rt.db, [Event(T0, "replied", "c0001")], wait=0)  # nothing left in flight


def test_a_marked_claim_whose_claimer_is_gone_is_cancelled_not_sent_again(rt):
    stale = int(time.time()) - 1
    marked = claim(rt, "c0002", token=DEAD, lease=stale, marked=True)
    plain = claim(rt, "c0003", token=DEAD, lease=stale, marked=False)
    assert recover(rt) == 2
    assert (status(rt, marked), status(rt, plain)) == ("cancelled", "pending")


def test_the_wait_withdraws_an_orphaned_marked_claim_itself(rt):
    key = claim(rt, "c0002", token=DEAD, lease=int(time.time()) - 1, marked=True)
    await_withdrawn(rt.db, [Event(T0, "replied", "c0002")], wait=5)
    assert status(rt, key) == "cancelled"
