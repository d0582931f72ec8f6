"""The HTML report: self-contained, and its charts render in a real browser.

The browser test opens the page in headless Chromium (Debian's `chromium`)
and reads the DOM after the scripts ran: the page's error hook counts script
errors and console.error calls into `<html data-errors>`, the renderer sets
`<html data-rendered>` to the charts it drew.  Without Chromium the test
fails under CI (CI=...) and is skipped elsewhere.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fsl.report import build_report
from fsl.report.html import render_html
from fsl.report.sources import from_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "report"


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    src = from_scenario(FIXTURES / "scenario.yaml")
    rep = build_report(src.store, as_of=src.as_of, plans=src.plans, config=src.config, source="test scenario")
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_html(rep), encoding="utf-8")
    return path


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def browse(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
            *extra, page.as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_page_is_self_contained(page):
    html = page.read_text()
    assert "<link" not in html and " src=" not in html and "@import" not in html
    assert not re.search(r"""(?:href|src)\s*=\s*['"]?https?:""", html)
    assert "<script type='application/json' id=report-data>" in html


def test_page_has_a_figure_per_chart_and_every_figure_in_tables(page):
    html = page.read_text()
    charts = re.findall(r"data-chart='([^']+)'", html)
    # 3 playbooks x (funnel + engagement), 3 win-back rates, outcomes over time, 3 execution charts
    assert len(charts) == 13 and len(set(charts)) == 13
    for figure in ("3,500", "won back", "Tasks by owner", "case_study 1", "2026-11-30"):
        assert figure in html


def test_charts_render_in_headless_chromium_without_errors(page, tmp_path):
    res = browse(page, tmp_path, "--dump-dom")
    dom = res.stdout
    assert res.returncode == 0, res.stderr[-2000:]
    root = re.search(r"<html[^>]*>", dom).group(0)
    assert 'data-errors="0"' in root, re.search(r'data-error-text="([^"]*)"', root)
    assert "Uncaught" not in res.stderr
    expected = len(re.findall(r'data-chart="', dom))
    assert expected == 13
    assert f'data-rendered="{expected}"' in root
    figures = re.findall(r'<figure data-chart="[^"]+">.*?</figure>', dom, re.S)
    assert len(figures) == expected
    for fig in figures:
        assert "<svg" in fig and "<rect" in fig and "<title>" in fig, fig[:200]
    assert dom.count('class="bar"') >= 60  # bars with hover titles
    assert "checkin: 3 of 5 enrolled (60%)" in dom  # a funnel bar's hover title
    assert "high: 2 of 5 won back (40%)" in dom


def test_screenshot_when_asked(page, tmp_path):
    """FSL_REPORT_SCREENSHOT=FILE keeps a picture of the page for a person to look at."""
    out = os.environ.get("FSL_REPORT_SCREENSHOT")
    if not out:
        pytest.skip("set FSL_REPORT_SCREENSHOT=FILE to take a screenshot")
    res = browse(page, tmp_path, "--hide-scrollbars", f"--screenshot={out}", "--window-size=1280,2000")
    assert res.returncode == 0 and Path(out).stat().st_size > 10_000
