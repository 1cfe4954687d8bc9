"""The HTML report in a real browser: headless Chromium driven by Playwright, offline.

The reports come from real `mlcheck run --html` processes on the bundled sample data. Each page
is opened from file:// with JavaScript off and on; every request is routed through a handler
that lets only file:// through and records anything else, so a network request (a CDN, a font,
a tracking pixel) fails the test. Console errors fail it too. The screenshot in the README
(docs/html-report.png) is taken here: `MLCHECK_UPDATE_SCREENSHOT=1 pytest
tests/reporters/test_html_browser.py` rewrites it.

Skipped, with the reason, where Chromium or Playwright's Python package is missing
(`.ci/chromium.sh` installs the browser; Playwright comes with the `test` extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlcheck.reporters import html as html_report
from mlcheck.results import CheckResult, RunResult, StageResult, Status

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "html-report.png"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    found = os.environ.get("MLCHECK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).is_file() else None


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install -e '.[test]')"
    if _chromium() is None:
        return "Chromium is not installed (.ci/chromium.sh installs the Debian package)"
    return None


pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """HTML reports written by real CLI runs: the clean sample data and drifted live traffic."""
    out = tmp_path_factory.mktemp("html")
    runs = {
        "credit": ("checklists/credit.yaml", 0),
        "performance_drift": ("checklists/broken/performance_drift.yaml", 1),
        "split_reproducibility": ("checklists/broken/split_reproducibility.yaml", 1),
    }
    paths = {}
    for name, (checklist, code) in runs.items():
        paths[name] = out / f"{name}.html"
        proc = subprocess.run(
            [sys.executable, "-m", "mlcheck", "run", checklist, "-q", "--html", paths[name]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == code, proc.stderr
    return paths


class Visit:
    """One page load: the requests it made beyond file://, and its console errors."""

    def __init__(self, browser: Any, path: Path, *, javascript: bool) -> None:
        self.context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": 1100, "height": 900}
        )
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri(), wait_until="load")

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
@pytest.mark.parametrize("name", ["credit", "performance_drift"])
def test_report_loads_offline_without_errors_and_shows_its_parts(
    browser: Any, reports: dict[str, Path], name: str, javascript: bool
) -> None:
    visit = Visit(browser, reports[name], javascript=javascript)
    try:
        page = visit.page
        assert visit.blocked == [], "the report made a network request"
        assert visit.errors == []
        verdict = page.locator("header.verdict h1")
        assert verdict.is_visible()
        assert verdict.inner_text().endswith("READY" if name == "credit" else "NOT READY")
        assert page.locator("table.stages tbody tr").count() == 6
        chunk_chart = page.locator("svg.chart[aria-label='roc_auc per chunk']")
        assert chunk_chart.is_visible() and chunk_chart.bounding_box()["width"] > 300
        score = page.locator("svg.chart[aria-label='p_default: research vs live distribution']")
        assert score.is_visible()
        # the bars are drawn: research bars and the live outline have a size on screen
        assert score.locator("rect.research.bar").count() == 20
        assert score.locator("polyline.live.step").bounding_box()["height"] > 20
        if name == "performance_drift":
            drifted = "bureau_score: research vs live distribution"
            assert page.locator(f"svg.chart[aria-label='{drifted}']").is_visible()
            assert page.locator("#stage-performance_drop .hint").first.is_visible()
        if name == "credit" and not javascript:
            _screenshot(page)
    finally:
        visit.close()


@pytest.mark.parametrize("javascript", [False, True], ids=["no-js", "js"])
def test_split_matrix_is_shaded_by_count(
    browser: Any, reports: dict[str, Path], javascript: bool
) -> None:
    """The matrix cells' shading comes from inline style attributes the CSP must allow."""
    visit = Visit(browser, reports["split_reproducibility"], javascript=javascript)
    try:
        assert visit.blocked == [] and visit.errors == []
        matrix = visit.page.locator("#check-split_reproducibility-SPL002 table.matrix")
        assert matrix.is_visible()
        cells = matrix.locator("td")
        assert cells.count() == 9
        shades = [
            cells.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(9)
        ]
        assert len(set(shades)) > 3  # more keys, a deeper colour: the cells differ
        assert all(s.startswith("rgba(") for s in shades)
    finally:
        visit.close()


def test_collapsed_passing_results_open_without_javascript(
    browser: Any, reports: dict[str, Path]
) -> None:
    visit = Visit(browser, reports["credit"], javascript=False)
    try:
        passing = visit.page.locator("#stage-data_reproducibility details.passing")
        assert not passing.locator("table").is_visible()
        passing.locator("summary").click()
        assert passing.locator("table").is_visible()
        assert passing.locator("tbody tr").count() == 20
    finally:
        visit.close()


def test_hostile_names_stay_text_in_the_browser(browser: Any, tmp_path: Path) -> None:
    """A column named like markup is shown as text; nothing it holds runs or loads."""
    hostile = '<script>window.pwned = 1</script><img src="https://example.com/x.png">'
    finding = CheckResult(
        "VAR002",
        "Null rate rose",
        Status.FAIL,
        f"{hostile} null rate rose",
        source="production.live.features",
        column=hostile,
        hint=hostile,
        details={
            "research_null_rate": 0.0,
            "live_null_rate": 0.5,
            "examples": [{"key": hostile, hostile: 1}],
        },
    )
    stage = StageResult("variable_availability", Status.FAIL, 0.1, None, (finding,))
    result = RunResult(hostile, hostile, "not_ready", "variable_availability", 0.1, (stage,), "0")
    path = tmp_path / "hostile.html"
    path.write_text(html_report.render(result), encoding="utf-8")
    visit = Visit(browser, path, javascript=True)
    try:
        assert visit.blocked == [] and visit.errors == []
        assert visit.page.evaluate("typeof window.pwned") == "undefined"
        assert visit.page.locator("img").count() == 0
        assert hostile in visit.page.locator(".finding h4").inner_text()
    finally:
        visit.close()


def _screenshot(page: Any) -> None:
    """The top of the clean sample report, as docs/html-report.png (when asked to update it)."""
    shot = page.screenshot(full_page=True)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("MLCHECK_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size < 300_000
