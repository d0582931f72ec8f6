"""The console (CONSOLE.md) over HTTP: a real `fsl serve` process, its SQLite store, a real
SMTP server and a model server on loopback (tests/console_support.py).  The browser tests
are tests/test_console_browser.py; these check every rule at the HTTP level, the JSON
variants included."""
from __future__ import annotations

import json

import httpx
import pytest

from .console_support import HOSTILE, PASSWORD, Served, csrf, db, login, tick
from .test_ops_support import cli

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with Served(tmp_path_factory.mktemp("console")) as s:
        yield s


def task_of(s: Served, contact: str) -> int:
    with db(s.folder) as conn:
        return conn.execute("SELECT id FROM tasks WHERE contact = ? ORDER BY id", (contact,)).fetchone()[0]


def test_without_a_session_pages_go_to_login_and_json_answers_401(served):
    for path in ("/tasks", "/review", "/contacts/c1", "/playbooks"):
        page = httpx.get(served.base + path)
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert httpx.get(served.base + path, headers=JSON).status_code == 401
    assert httpx.get(served.base + "/").headers["location"] == "/tasks"


def test_session_cookie_flags_and_password_hash(served):
    client = httpx.Client(base_url=served.base, headers={"X-Forwarded-For": "10.0.0.1"})
    answer = client.post("/login", data={"username": "ana", "password": PASSWORD,
                                         "csrf_token": csrf(client, "/login")})
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie  # http base_url
    assert PASSWORD not in cookie
    with db(served.folder) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE name = 'ana'").fetchone()[0]
        session_ids = [r[0] for r in conn.execute("SELECT id FROM sessions")]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert all(sid not in cookie for sid in session_ids)  # the store keeps a digest, never the id


def test_a_rep_sees_only_their_own_tasks_and_contacts(served):
    ana = login(served.base, "ana", "10.0.1.1")
    data = ana.get("/tasks", headers=JSON).json()
    contacts = {t["contact"] for g in data["groups"] for t in g["tasks"]}
    assert {"c2", "c4"} <= contacts <= {"c1", "c2", "c3", "c4"}  # (c1 and c3 may be done or snoozed by now)
    assert "c5" not in contacts and "bob" not in json.dumps(data)
    page = ana.get("/tasks").text
    assert "Bruno" not in page and "c5@example.com" not in page
    for path in ("/contacts/c5", "/contacts/no-such-contact", f"/tasks/{task_of(served, 'c5')}/done"):
        assert ana.get(path).status_code == 404
        answer = ana.get(path, headers=JSON)
        assert answer.status_code == 404 and "Bruno" not in answer.text
    assert ana.get("/contacts/c2", headers=JSON).json()["fields"]["first_name"] == "Dev"
    assert ana.get("/playbooks").status_code == 404  # managers and admins only


def test_a_rep_cannot_close_another_reps_task(served):
    ana = login(served.base, "ana", "10.0.1.2")
    bobs = task_of(served, "c5")
    answer = ana.post(f"/tasks/{bobs}/done", data={"csrf_token": csrf(ana, "/tasks"), "channel": "phone",
                                                    "status": "won"})
    assert answer.status_code == 404
    with db(served.folder) as conn:
        assert conn.execute("SELECT status FROM tasks WHERE id = ?", (bobs,)).fetchone()[0] == "open"


def test_a_manager_sees_their_team_by_rep_and_the_playbooks(served):
    maria = login(served.base, "maria", "10.0.2.1")
    groups = {g["owner_id"]: {t["contact"] for t in g["tasks"]} for g in maria.get("/tasks", headers=JSON).json()["groups"]}
    assert set(groups) == {"maria", "ana", "bob"}
    assert "c5" in groups["bob"] and groups["maria"] == set()
    assert maria.get("/contacts/c5").status_code == 200
    books = maria.get("/playbooks", headers=JSON).json()["playbooks"]
    assert {b["playbook"] for b in books} == {"calls", "noted"}
    assert maria.get("/playbooks").status_code == 200


def test_a_post_without_a_valid_csrf_token_changes_nothing(served):
    ana = login(served.base, "ana", "10.0.3.1")
    task = task_of(served, "c2")
    fields = {"channel": "phone", "status": "won", "summary": "should not be saved"}
    assert ana.post(f"/tasks/{task}/done", data=fields).status_code == 403
    assert ana.post(f"/tasks/{task}/done", data={**fields, "csrf_token": "0" * 64}).status_code == 403
    bob = login(served.base, "bob", "10.0.3.2")  # another session's token is no good either
    assert ana.post(f"/tasks/{task}/done", data={**fields, "csrf_token": csrf(bob, "/tasks")}).status_code == 403
    with db(served.folder) as conn:
        assert conn.execute("SELECT status FROM tasks WHERE id = ?", (task,)).fetchone()[0] == "open"
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'task_done' AND contact = 'c2'").fetchone()[0] == 0


def test_done_records_task_done_and_a_stop_rule_ends_the_enrollment_before_the_answer(served):
    ana = login(served.base, "ana", "10.0.4.1")
    task = task_of(served, "c1")
    bad = ana.post(f"/tasks/{task}/done", data={"csrf_token": csrf(ana, "/tasks"), "channel": "pigeon",
                                                "status": "won"})
    assert bad.status_code == 422 and "channel" in bad.text
    answer = ana.post(f"/tasks/{task}/done", data={
        "csrf_token": csrf(ana, "/tasks"), "channel": "phone", "status": "won", "summary": "Signed the order form",
        "feedback": "Wants onboarding <b>next week</b>", "next_at": "2026-12-24"})
    assert answer.status_code == 303 and answer.headers["location"] == "/tasks"
    with db(served.folder) as conn:
        assert conn.execute("SELECT status FROM tasks WHERE id = ?", (task,)).fetchone()[0] == "done"
        fields = json.loads(conn.execute("SELECT fields FROM events WHERE type = 'task_done' AND contact = 'c1'")
                            .fetchone()[0])
        status, reason = conn.execute("SELECT status, reason FROM enrollments WHERE contact = 'c1' "
                                      "AND playbook = 'calls'").fetchone()
    assert fields["task"] == task and fields["channel"] == "phone" and fields["status"] == "won"
    assert fields["summary"] == "Signed the order form" and "2026-12-24" in json.dumps(fields["next_at"])
    assert status == "ended" and "task_done" in reason
    page = ana.get("/contacts/c1").text
    assert "Signed the order form" in page and "&lt;b&gt;next week&lt;/b&gt;" in page
    again = ana.post(f"/tasks/{task}/done", data={"csrf_token": csrf(ana, "/tasks"), "channel": "phone",
                                                  "status": "won"})
    assert again.status_code == 409


def test_snooze_moves_the_due_time_in_the_viewers_zone(served):
    ana = login(served.base, "ana", "10.0.5.1")
    task = task_of(served, "c3")
    answer = ana.post(f"/tasks/{task}/snooze", data={"csrf_token": csrf(ana, "/tasks"),
                                                     "until": "2030-01-15T09:30"})
    assert answer.status_code == 303
    with db(served.folder) as conn:
        due = conn.execute("SELECT due_at FROM tasks WHERE id = ?", (task,)).fetchone()[0]
    assert due == 1894717800  # 2030-01-15 09:30 in New York is 14:30 UTC
    assert "c3" not in {t["contact"] for g in ana.get("/tasks", headers=JSON).json()["groups"] for t in g["tasks"]}


def test_contact_data_is_escaped(served):
    ana = login(served.base, "ana", "10.0.6.1")
    for path in ("/tasks", "/contacts/c4"):
        page = ana.get(path)
        assert HOSTILE not in page.text and "<script>document.title" not in page.text
        assert "&lt;script&gt;document.title" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


def test_review_edit_with_a_failing_guard_saves_nothing_then_edit_and_approve_deliver(served):
    ana = login(served.base, "ana", "10.0.7.1")
    items = ana.get("/review", headers=JSON).json()["items"]
    by_contact = {i["contact"]: i for i in items}
    assert set(by_contact) == {"c6", "c7"}
    held = by_contact["c6"]
    assert any(not v["passed"] and v["guard"] == "avoid" for v in held["verdicts"])
    assert "note to Nora" in held["prompt"]["prompt"] and held["prompt"]["values"]["contact"]["first_name"] == "Nora"
    token = csrf(ana, "/review")
    failing = ana.post(f"/review/{held['id']}/edit", data={"csrf_token": token, "subject": "Hi",
                                                          "body": "Hi Nora, just checking in."})
    assert failing.status_code == 422 and "avoid" in failing.text
    with db(served.folder) as conn:
        assert conn.execute("SELECT status FROM reviews WHERE id = ?", (held["id"],)).fetchone()[0] == "held"
    edited = ana.post(f"/review/{held['id']}/edit", data={"csrf_token": token, "subject": "Your notes, Nora",
                                                         "body": "Hi Nora, here are the notes from our call."})
    assert edited.status_code == 303
    approved = ana.post(f"/review/{by_contact['c7']['id']}/approve", data={"csrf_token": token})
    assert approved.status_code == 303
    assert ana.get("/review", headers=JSON).json()["items"] == []
    tick(served.config)
    sent = {m.rcpt_tos[0]: m.message for m in served.smtp.messages}
    assert sent["c6@example.com"]["Subject"] == "Your notes, Nora"
    assert "here are the notes from our call" in sent["c6@example.com"].get_content()
    assert "Just   Checking In!" in sent["c7@example.com"].get_content()  # approved as the model wrote it


def test_bob_never_sees_anas_review_items(served):
    bob = login(served.base, "bob", "10.0.7.2")
    assert bob.get("/review", headers=JSON).json()["items"] == []
    with db(served.folder) as conn:
        review = conn.execute("SELECT id FROM reviews ORDER BY id").fetchone()[0]
    answer = bob.post(f"/review/{review}/reject", data={"csrf_token": csrf(bob, "/review")})
    assert answer.status_code == 404


def test_five_wrong_passwords_lock_the_user_even_with_the_right_one(served):
    client = httpx.Client(base_url=served.base, headers={"X-Forwarded-For": "10.0.8.1"})
    for _ in range(5):
        wrong = client.post("/login", data={"username": "bob", "password": "nope",
                                            "csrf_token": csrf(client, "/login")})
        assert wrong.status_code == 401
    other = httpx.Client(base_url=served.base, headers={"X-Forwarded-For": "10.0.8.2"})  # from anywhere
    locked = other.post("/login", data={"username": "bob", "password": PASSWORD, "csrf_token": csrf(other, "/login")})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    login(served.base, "ana", "10.0.8.1")  # another user from that address still logs in


def test_twenty_failures_from_one_address_lock_the_address(served):
    client = httpx.Client(base_url=served.base, headers={"X-Forwarded-For": "10.0.9.1"})
    for i in range(20):
        wrong = client.post("/login", data={"username": f"nobody{i}", "password": "nope",
                                            "csrf_token": csrf(client, "/login")})
        assert wrong.status_code == 401
    locked = client.post("/login", data={"username": "maria", "password": PASSWORD,
                                         "csrf_token": csrf(client, "/login")})
    assert locked.status_code == 429
    login(served.base, "maria", "10.0.9.2")  # maria herself is not locked


def test_a_disabled_user_is_logged_out_at_the_next_request_and_logout_ends_the_session(served):
    root = login(served.base, "root", "10.0.10.1")
    assert root.get("/contacts/c5").status_code == 200  # an admin sees everything
    copied = httpx.Client(base_url=served.base, cookies=root.cookies)
    assert root.post("/logout", data={"csrf_token": csrf(root, "/tasks")}).status_code == 303
    assert copied.get("/tasks").status_code == 303  # the copied cookie is no good after logout
    cli("users", "add", "temp", "--role", "rep", "--password-stdin", cwd=served.folder, input=PASSWORD + "\n")
    temp = login(served.base, "temp", "10.0.10.2")
    assert temp.get("/tasks").status_code == 200
    assert cli("users", "disable", "temp", cwd=served.folder).exit_code == 0
    answer = temp.get("/tasks")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    again = httpx.Client(base_url=served.base, headers={"X-Forwarded-For": "10.0.10.3"})
    refused = again.post("/login", data={"username": "temp", "password": PASSWORD, "csrf_token": csrf(again, "/login")})
    assert refused.status_code == 401


def test_users_cli(served):
    listed = cli("users", "list", "--format", "json", cwd=served.folder)
    users = {u["name"]: u for u in json.loads(listed.output)}
    assert users["maria"]["role"] == "manager" and users["ana"]["owner_id"] == "ana"
    assert users["ana"]["timezone"] == "America/New_York" and "password_hash" not in listed.output
    duplicate = cli("users", "add", "ana", "--role", "rep", "--password-stdin", cwd=served.folder, input="x\n")
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output
    bad_zone = cli("users", "add", "zed", "--role", "rep", "--timezone", "Mars/Olympus", "--password-stdin",
                   cwd=served.folder, input="x\n")
    assert bad_zone.exit_code == 2


def test_an_idle_session_ends(served):
    ana = login(served.base, "ana", "10.0.11.1")
    assert ana.get("/tasks").status_code == 200
    with db(served.folder) as conn:  # as if her last request were 9 hours ago (server.session_idle: 8 hours)
        conn.execute("UPDATE sessions SET seen_at = seen_at - 9 * 3600 WHERE user_id = "
                     "(SELECT id FROM users WHERE name = 'ana')")
    answer = ana.get("/tasks")
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert ana.get("/tasks", headers=JSON).status_code == 401


def test_fsl_tasks_done_records_task_done_with_notes_and_applies_it(served):
    task = task_of(served, "c8")
    done = cli("tasks", "done", str(task), "--channel", "meeting", "--status", "won", "--summary", "Signed",
               "--next-at", "2027-01-10", cwd=served.folder)
    assert done.exit_code == 0, done.output
    with db(served.folder) as conn:
        fields = json.loads(conn.execute("SELECT fields FROM events WHERE type = 'task_done' AND contact = 'c8'")
                            .fetchone()[0])
        status = conn.execute("SELECT status FROM enrollments WHERE contact = 'c8'").fetchone()[0]
    assert fields["task"] == task and fields["channel"] == "meeting" and fields["summary"] == "Signed"
    assert status == "ended"  # `stop on task_done where event.status == "won"`, before the command returned


def test_an_admin_manages_users_and_others_cannot(served):
    ana = login(served.base, "ana", "10.0.12.1")
    assert ana.get("/users").status_code == 404
    assert ana.post("/users", data={"csrf_token": csrf(ana, "/tasks"), "name": "mallory", "role": "admin",
                                    "password": "x"}).status_code == 404
    root = login(served.base, "root", "10.0.12.2")
    token = csrf(root, "/users")
    bad = root.post("/users", data={"csrf_token": token, "name": "ana", "role": "rep", "password": "pw"})
    assert bad.status_code == 422 and "exists already" in bad.text
    added = root.post("/users", data={"csrf_token": token, "name": "zoe", "role": "rep", "team": "east",
                                      "timezone": "Europe/Paris", "password": "zoe's password"})
    assert added.status_code == 303
    zoe = login(served.base, "zoe", "10.0.12.3", password="zoe's password")
    assert zoe.get("/tasks").status_code == 200
    assert root.post("/users/zoe/disable", data={"csrf_token": token}).status_code == 303
    assert zoe.get("/tasks").status_code == 303
    listed = {u["name"]: u for u in root.get("/users", headers=JSON).json()["users"]}
    assert listed["zoe"]["disabled"] is True and listed["zoe"]["timezone"] == "Europe/Paris"
    assert "mallory" not in listed
