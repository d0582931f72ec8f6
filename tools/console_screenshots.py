"""Screenshots of every console page for the docs (docs/operations/console.md), opt-in:

    python tools/console_screenshots.py [--out docs/images/console]

Builds the console test project (tests/console_support.py: a real `fsl serve`, SMTP and
model servers on loopback), logs in with Debian's Chromium through Playwright
(/usr/bin/chromium; no browser download) and saves one PNG per page.  Not run by the
test suite: images change with every style tweak, and reviewers look at them by eye.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.console_support import PASSWORD, Served, db  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def log_in(page, name: str) -> None:
    page.goto("/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.press("#password", "Enter")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "console")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, Served(Path(tmp)) as s, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        with db(s.folder) as conn:
            task = conn.execute("SELECT id FROM tasks WHERE contact = 'c1'").fetchone()[0]

        def shoot(name: str, page, full: bool = True) -> None:
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=full)
            print(args.out / f"{name}.png")

        desk = browser.new_context(base_url=s.base, viewport={"width": 1100, "height": 800},
                                   extra_http_headers={"X-Forwarded-For": "10.9.0.1"})
        page = desk.new_page()
        page.goto("/login")
        shoot("login", page)
        log_in(page, "ana")
        shoot("tasks", page)
        page.goto(f"/tasks/{task}/done")
        page.check("input[name=status][value=reached]")
        page.fill("textarea[name=summary]", "Talked about the rollout plan")
        shoot("task-done", page)
        page.goto(f"/tasks/{task}/snooze")
        shoot("task-snooze", page)
        page.goto("/review")
        page.locator("details").first.locator("summary").click()
        shoot("review", page)
        page.goto("/contacts/c2")
        shoot("contact", page)
        page.goto("/contacts/c5")
        shoot("not-found", page)
        manager = browser.new_context(base_url=s.base, viewport={"width": 1100, "height": 800},
                                      extra_http_headers={"X-Forwarded-For": "10.9.0.2"}).new_page()
        log_in(manager, "maria")
        shoot("tasks-manager", manager)
        manager.goto("/playbooks")
        shoot("playbooks", manager)
        admin = browser.new_context(base_url=s.base, viewport={"width": 1100, "height": 800},
                                    extra_http_headers={"X-Forwarded-For": "10.9.0.4"}).new_page()
        log_in(admin, "root")
        admin.goto("/users")
        shoot("users", admin)
        phone = browser.new_context(base_url=s.base, viewport={"width": 390, "height": 844}, is_mobile=True,
                                    has_touch=True, device_scale_factor=1,
                                    extra_http_headers={"X-Forwarded-For": "10.9.0.3"}).new_page()
        log_in(phone, "ana")
        shoot("tasks-phone", phone, full=False)
        browser.close()


if __name__ == "__main__":
    main()
