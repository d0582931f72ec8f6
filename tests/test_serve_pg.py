"""`fsl serve` on PostgreSQL: an unsubscribe ends the enrollment and withdraws its
unsent message before the response, next to a store the worker ticks."""
from __future__ import annotations


import httpx
import sqlalchemy as sa

from fsl.signals import tokens

from .smtp_sink import free_port
from .test_ops_support import make_project
from .test_pg_support import _driver, pg_url  # noqa: F401 - the fixture
from .test_serve import HELLO, SECRET, SERVER, populate_and_tick, start_server, stop


def test_unsubscribe_is_immediate_on_postgresql(tmp_path, pg_url):  # noqa: F811
    config = make_project(tmp_path)
    (tmp_path / "templates" / "hello.md").write_text(HELLO)
    port = free_port()
    text = config.read_text().replace("store: sqlite:///fsl.db", f"store: \"{pg_url}\"")
    config.write_text(text + SERVER.format(port=port))
    populate_and_tick(config, 2)
    engine = sa.create_engine(_driver(pg_url))
    try:
        with engine.connect() as conn:
            key = conn.execute(sa.text("SELECT key FROM actions WHERE contact = 'c0001' AND kind = 'send'")).scalar()
        proc, _ = start_server(tmp_path, port)
        try:
            url = f"http://127.0.0.1:{port}/u/{tokens.make(SECRET, key, kind='unsubscribe')}"
            assert httpx.post(url, content=b"List-Unsubscribe=One-Click").status_code == 200
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT e.status, e.outcome, a.status FROM enrollments e "
                                            "JOIN actions a ON a.enrollment = e.id WHERE e.contact = 'c0001' "
                                            "AND a.kind = 'send'")).fetchall()
                assert [tuple(r) for r in rows] == [("ended", "unsubscribed", "cancelled")]
                assert conn.execute(sa.text("SELECT status FROM enrollments WHERE contact = 'c0002'")).scalar() \
                    != "ended"
        finally:
            assert stop(proc) == 0
    finally:
        engine.dispose()
