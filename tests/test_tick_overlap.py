"""Two ticks at once on the same store never execute or send anything twice."""
from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from fsl.delivery.message import message_id

from .test_ops_support import SmtpServer, at, fsl_process, make_project, populate, runtime

N = 1500


def test_two_overlapping_ticks_share_the_work(tmp_path: Path) -> None:
    with SmtpServer() as smtp:
        config = make_project(tmp_path, port=smtp.port)
        populate(config, N)
        procs = [fsl_process("tick", "--now", at(), "--batch", "25", "--format", "json", cwd=tmp_path)
                 for _ in range(2)]
        reports = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            reports.append(json.loads(out))
        arrivals = smtp.sink.by_message_id()
    rt = runtime(config)
    with rt.db.read() as conn:
        executed = conn.execute(sa.text("SELECT count(*) FROM journal WHERE kind = 'executed'")).scalar()
        keys = [r[0] for r in conn.execute(sa.text("SELECT key FROM actions WHERE status = 'delivered'"))]
        enrolled = conn.execute(sa.text("SELECT count(*) FROM enrollments")).scalar()
    rt.close()
    assert sum(r["steps"] for r in reports) == N  # each step executed by exactly one of them
    print("steps per tick:", [r["steps"] for r in reports], "delivered:", [r["delivered"] for r in reports])
    assert sum(r["events"] for r in reports) == N and enrolled == N
    assert executed == N and len(keys) == N
    assert sum(r["delivered"] for r in reports) == N
    assert set(arrivals) == {message_id(k, "acme.example") for k in keys}
    assert set(arrivals.values()) == {1}  # no crash, so not even a raw duplicate
