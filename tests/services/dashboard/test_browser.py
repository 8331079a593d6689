"""A real browser (Debian's headless Chromium, driven by Playwright) against real dashboard and API processes."""

import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.services.dashboard.conftest import run_dashboard

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
OUTPUT = ROOT / "test-output" / "dashboard"
README_SCREENSHOT = ROOT / "services" / "dashboard" / "assets" / "policy-simulator.png"
PROFIT_CHART = '[data-testid="stVegaLiteChart"][aria-label^="Profit by share targeted"]'


def _expected_share(api_url: str, cost: float) -> float:
    segments = httpx.get(f"{api_url}/model").json()["segments"]
    params = {
        "value_per_conversion": 20.0,
        "cost_per_treatment": cost,
        "budget": 1000.0,
        "lower": segments["lower"],
        "upper": segments["upper"],
    }
    return httpx.get(f"{api_url}/model/policy-curve", params=params).json()["chosen"]["share"]


def _wait_for_label_change(chart, before: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        label = chart.get_attribute("aria-label")
        if label and label != before:
            return label
        time.sleep(0.2)
    raise AssertionError(f"the profit chart did not change within {timeout} s (still {before!r})")


@pytest.mark.browser
def test_policy_chart_updates_when_a_control_changes(api_url):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(parents=True, exist_ok=True)
    with run_dashboard(api_url) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1450})
            page.goto(url, wait_until="domcontentloaded")
            chart = page.locator(PROFIT_CHART)
            chart.wait_for(timeout=90_000)
            before = chart.get_attribute("aria-label")
            assert f"cut-off at {_expected_share(api_url, 1.0):.1%}" in before
            pixels_before = chart.screenshot()

            cost = page.get_by_label("Cost per treatment")
            cost.fill("3")
            cost.press("Enter")
            after = _wait_for_label_change(chart, before)
            assert f"cut-off at {_expected_share(api_url, 3.0):.1%}" in after
            page.wait_for_timeout(1500)  # let Vega finish drawing before the pictures
            assert chart.screenshot() != pixels_before
            shot = OUTPUT / "policy-simulator.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, README_SCREENSHOT)
