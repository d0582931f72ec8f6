"""The console over PostgreSQL: the same `fsl serve` process and pages, the store in a
fresh schema (FSL_TEST_POSTGRES_URL; skipped without it, as the other PostgreSQL tests)."""
from __future__ import annotations

from .console_support import Served, csrf, login
from .test_pg_support import pg_url  # noqa: F401 - the fixture

JSON = {"Accept": "application/json"}


def test_sight_done_and_the_stop_rule_on_postgresql(tmp_path, pg_url):  # noqa: F811
    with Served(tmp_path, store=pg_url) as s:
        ana = login(s.base, "ana", "10.2.0.1")
        groups = ana.get("/tasks", headers=JSON).json()["groups"]
        tasks = {t["contact"]: t["id"] for g in groups for t in g["tasks"]}
        assert set(tasks) == {"c1", "c2", "c3", "c4"}
        assert ana.get("/contacts/c5", headers=JSON).status_code == 404
        answer = ana.post(f"/tasks/{tasks['c1']}/done", data={"csrf_token": csrf(ana, "/tasks"), "channel": "phone",
                                                              "status": "won", "summary": "Signed"})
        assert answer.status_code == 303
        contact = ana.get("/contacts/c1", headers=JSON).json()
        assert [n["fields"]["summary"] for n in contact["notes"]] == ["Signed"]
        assert {e["playbook"]: e["status"] for e in contact["enrollments"]}["calls"] == "ended"
        assert len(ana.get("/review", headers=JSON).json()["items"]) == 2
