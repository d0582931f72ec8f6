"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium;
no browser is downloaded) against a real `fsl serve` process (tests/console_support.py).

Each test works in its own browser context (its own cookies) and, through a trusted
X-Forwarded-For, from its own address, so the login limits of one never touch another.
"""
from __future__ import annotations

import json
import shutil

import pytest

from .console_support import HOSTILE, PASSWORD, Served, db, tick

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with Served(tmp_path_factory.mktemp("console-browser")) as s:
        yield s


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, served):
    contexts = []

    def make(address: str, **kwargs):
        context = browser.new_context(base_url=served.base, extra_http_headers={"X-Forwarded-For": address}, **kwargs)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        return page

    yield make
    for c in contexts:
        c.close()


def log_in(page, name: str, password: str = PASSWORD):
    page.goto("/login")
    page.fill("#username", name)
    page.fill("#password", password)
    with page.expect_navigation():
        page.press("#password", "Enter")  # the keyboard submits the form


def test_log_in_and_see_only_ones_own_tasks(new_page):
    page = new_page("10.1.0.1")
    log_in(page, "ana")
    assert page.url.endswith("/tasks")
    text = page.inner_text("main")
    assert "Call Carla" in text and "Call Dev" in text
    assert "Bruno" not in page.content() and "c5@example.com" not in page.content()
    assert page.locator("time.due").first.inner_text().startswith("overdue · Mon 23 Nov 2026 10:00")  # New York


def test_session_cookie_is_httponly_and_samesite_lax(new_page):
    page = new_page("10.1.0.2")
    log_in(page, "ana")
    cookie = next(c for c in page.context.cookies() if c["name"] == "fsl_console")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["secure"] is False
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it


def test_html_in_contact_data_renders_as_text(new_page):
    page = new_page("10.1.0.3")
    log_in(page, "ana")
    for path in ("/tasks", "/contacts/c4"):
        page.goto(path)
        assert HOSTILE in page.inner_text("main")  # shown, as text
        assert page.title() != "pwned" and page.dialogs == []
        assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0


def test_complete_a_task_with_notes_and_the_playbook_reacts(new_page, served):
    page = new_page("10.1.0.4")
    log_in(page, "ana")
    with db(served.folder) as conn:
        task = conn.execute("SELECT id FROM tasks WHERE contact = 'c1'").fetchone()[0]
    with page.expect_navigation():
        page.locator(f"#task-{task}").get_by_role("link", name="Done").click()
    item = page.locator("main form")
    item.locator("input[name=channel][value=phone]").check()
    item.locator("input[name=status][value=won]").check()
    item.locator("textarea[name=summary]").fill("Called; she signed the order form")
    item.locator("textarea[name=feedback]").fill("Wants onboarding next week")
    item.locator("input[name=next_at]").fill("2026-12-24")
    with page.expect_navigation():
        item.locator("button[type=submit]").click()
    assert page.url.endswith("/tasks") and page.locator(f"#task-{task}").count() == 0
    with db(served.folder) as conn:
        status, reason = conn.execute("SELECT status, reason FROM enrollments WHERE contact = 'c1' "
                                      "AND playbook = 'calls'").fetchone()
        fields = json.loads(conn.execute("SELECT fields FROM events WHERE type = 'task_done'").fetchone()[0])
    assert status == "ended" and "task_done" in reason  # `stop on task_done where event.status == "won"`
    assert fields["summary"] == "Called; she signed the order form" and fields["channel"] == "phone"
    page.goto("/contacts/c1")
    notes = page.inner_text("section[aria-labelledby=notes]")
    assert "Called; she signed the order form" in notes and "Wants onboarding next week" in notes
    assert "next 2026-12-24" in notes


def test_a_post_without_csrf_token_changes_nothing(new_page, served):
    page = new_page("10.1.0.5")
    log_in(page, "ana")
    with db(served.folder) as conn:
        task = conn.execute("SELECT id FROM tasks WHERE contact = 'c2'").fetchone()[0]
    status = page.evaluate("""async (id) => (await fetch(`/tasks/${id}/done`, {method: 'POST',
        headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: 'channel=phone&status=won&summary=forged'})).status""", task)
    assert status == 403
    with db(served.folder) as conn:
        assert conn.execute("SELECT status FROM tasks WHERE id = ?", (task,)).fetchone()[0] == "open"


def test_open_a_contacts_timeline_but_not_another_reps_contact(new_page):
    page = new_page("10.1.0.6")
    log_in(page, "ana")
    page.click("text=Dev")
    assert page.url.endswith("/contacts/c2")
    assert "calls" in page.inner_text("section[aria-labelledby=enrollments]")
    assert "sequences/calls.fsl:8" in page.inner_text("main")  # each decision with its file:line
    answer = page.goto("/contacts/c5")
    assert answer.status == 404 and "Bruno" not in page.content()


def test_approve_and_edit_held_drafts_and_see_them_delivered(new_page, served):
    page = new_page("10.1.0.7")
    log_in(page, "ana")
    page.goto("/review")
    with db(served.folder) as conn:
        ids = dict(conn.execute("SELECT contact, id FROM reviews"))
    nora = page.locator(f"#review-{ids['c6']}")
    assert "FAIL avoid" in nora.inner_text()
    nora.locator("details.edit summary").click()
    nora.locator("textarea[name=body]").fill("Hi Nora, just checking in.")
    with page.expect_navigation():
        nora.locator("details.edit button[type=submit]").click()
    assert "Not saved: a guard failed" in page.inner_text("main")
    with db(served.folder) as conn:
        assert conn.execute("SELECT status FROM reviews WHERE id = ?", (ids["c6"],)).fetchone()[0] == "held"
    again = page.locator(f"#review-{ids['c6']}")
    again.locator("input[name=subject]").fill("Your notes, Nora")
    again.locator("textarea[name=body]").fill("Hi Nora, here are the notes from our call.")
    with page.expect_navigation():
        again.locator("details.edit button[type=submit]").click()
    with page.expect_navigation():
        page.locator(f"#review-{ids['c7']}").get_by_role("button", name="Approve", exact=True).click()
    assert "Nothing is held" in page.inner_text("main")
    tick(served.config)
    sent = {m.rcpt_tos[0]: m.message for m in served.smtp.messages}
    assert sent["c6@example.com"]["Subject"] == "Your notes, Nora"
    assert "here are the notes from our call" in sent["c6@example.com"].get_content()
    assert "c7@example.com" in sent


def test_wrong_passwords_lock_the_account(new_page):
    page = new_page("10.1.0.8")
    for _ in range(5):
        log_in(page, "bob", "wrong password")
        assert "Wrong user name or password" in page.inner_text("main")
    log_in(page, "bob")  # the right password, too late
    assert "Too many failed logins" in page.inner_text("main")
    elsewhere = new_page("10.1.0.9")
    log_in(elsewhere, "bob")
    assert "Too many failed logins" in elsewhere.inner_text("main")


def test_usable_on_a_phone(new_page):
    page = new_page("10.1.0.10", viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    log_in(page, "ana")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # no sideways scrolling
