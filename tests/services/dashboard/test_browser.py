"""A real browser (Debian's headless Chromium, driven by Playwright) against real dashboard and API processes.

One test per page moves the page's main control and checks what the page then shows; each also checks
that every chart fills its width (and is not squeezed flat). With UPLIFT_SCREENSHOTS=DIR set, each test
writes its page's full screenshot there (the README's pictures); nothing tracked is ever rewritten.
"""

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from services.api.targets import COLUMNS
from shared.artifacts import resolve_current
from tests.services.api.conftest import free_port
from tests.services.dashboard.conftest import run_dashboard

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
CHART = '[data-testid="stVegaLiteChart"]'
TITLES = [
    "Policy simulator",
    "Model quality",
    "Live bandit",
    "Score a user",
    "Experiment analysis",
    "Funnel and daily trend",
]
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def dashboard(api_url: str) -> Iterator[str]:
    with run_dashboard(api_url) as url:
        yield url


@pytest.fixture()
def page(browser):
    p = browser.new_page(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    yield p
    p.close()


def _open(page, url: str):
    page.goto(url, wait_until="domcontentloaded")
    page.locator("h1").first.wait_for(timeout=WAIT_MS)
    return page


def _wait_label(page, prefix: str, unlike: str | None = None, timeout: float = 90) -> str:
    """The aria-label (the chart's description) of the chart whose label starts with ``prefix``."""
    deadline = time.monotonic() + timeout
    chart = page.locator(f'{CHART}[aria-label^="{prefix}"]').first
    while time.monotonic() < deadline:
        if chart.count():
            label = chart.get_attribute("aria-label")
            if label and label != unlike:
                return label
        time.sleep(0.25)
    raise AssertionError(f"no chart labelled {prefix!r} (other than {unlike!r}) within {timeout} s")


def _settle(page) -> None:
    """Until Streamlit's run is over (its status widget gone) and Vega has drawn."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=WAIT_MS)
    page.wait_for_timeout(1500)


def charts_fill_their_width(page) -> int:
    """Every chart as wide as its column (±5%) and taller than a squeezed plot; returns how many."""
    charts = page.locator(CHART).all()
    for chart in charts:
        label = chart.get_attribute("aria-label")
        box = chart.bounding_box()
        column = chart.locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]").bounding_box()
        drawn = chart.locator("canvas, svg").first.bounding_box()
        assert box and column and drawn, label
        assert drawn["width"] >= 0.95 * column["width"], (label, drawn, column)
        assert drawn["height"] > 200, (label, drawn)  # a squeezed chart is its axes and legend alone
    return len(charts)


def _shot(page, name: str) -> None:
    folder = os.environ.get("UPLIFT_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    # Streamlit scrolls inside its main block, so a "full page" shot is one window: grow the window
    # to the whole page instead (same width, so the charts keep their layout).
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(1500)
    page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _users_csv(models: Path, path: Path, n: int) -> Path:
    version_dir, manifest = resolve_current(models)
    frame = pd.read_parquet(version_dir / "holdout_sample.parquet").head(n)
    frame[["user_id", *manifest.features.names]].to_csv(path, index=False)
    return path


def _api_share(api_url: str, cost: float) -> float:
    seg = httpx.get(f"{api_url}/model").json()["segments"]
    params = {"value_per_conversion": 20.0, "cost_per_treatment": cost, "budget": 1000.0}
    params |= {"lower": seg["lower"], "upper": seg["upper"]}
    return httpx.get(f"{api_url}/model/policy-curve", params=params, timeout=60).json()["chosen"]["share"]


def test_policy_simulator_follows_the_cost_and_exports_the_target_list(
    page, dashboard, api_url, trained_models, tmp_path
):
    _open(page, dashboard)
    before = _wait_label(page, "Profit by share targeted")
    assert f"cut-off at {_api_share(api_url, 1.0):.1%}" in before
    assert page.get_by_text("Observed on held-out users").first.is_visible()
    cost = page.get_by_label("Cost per treatment ($)")
    cost.fill("3")
    cost.press("Enter")
    after = _wait_label(page, "Profit by share targeted", unlike=before)
    assert f"cut-off at {_api_share(api_url, 3.0):.1%}" in after
    _settle(page)
    assert charts_fill_their_width(page) == 4

    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(_users_csv(trained_models, tmp_path / "users.csv", 300))
    )
    page.get_by_role("button", name="Build the target list").click(timeout=WAIT_MS)
    download_button = page.get_by_role("button", name="Download the target list (CSV)")
    download_button.wait_for(timeout=WAIT_MS)
    with page.expect_download() as info:
        download_button.click()
    got = pd.read_csv(info.value.path())
    assert list(got.columns) == COLUMNS and len(got) == 300
    _settle(page)
    _shot(page, "policy-simulator")


def test_model_quality_shows_the_verdict_and_its_glossary(page, dashboard):
    _open(page, f"{dashboard}/model_quality")
    _wait_label(page, "Qini curve")
    assert page.get_by_text("Held-out verdict").first.is_visible()
    glossary = page.get_by_text("Glossary")
    glossary.scroll_into_view_if_needed()
    glossary.click()  # the page's one control
    assert page.get_by_text(
        "the same learner trained with the treatment labels shuffled", exact=False
    ).is_visible()
    _settle(page)
    assert charts_fill_their_width(page) >= 5
    _shot(page, "model-quality")


def test_live_bandit_round_draws_the_regret(page, dashboard):
    _open(page, f"{dashboard}/live_bandit")
    users = page.get_by_label("Users per round")
    users.fill("100")
    users.press("Enter")
    page.get_by_role("button", name="Send 100 simulated users").click(timeout=WAIT_MS)
    label = _wait_label(page, "regret after")
    assert label == "regret after 100 users"
    _settle(page)
    assert charts_fill_their_width(page) == 4  # regret, and one posterior chart per segment
    _shot(page, "live-bandit")


def test_score_a_user_answers_and_refuses_out_of_range_at_the_field(page, dashboard):
    _open(page, f"{dashboard}/score_user")
    age = page.get_by_label("Age", exact=True)
    age.fill("61")
    page.get_by_role("button", name="Score").click()
    page.get_by_text("Effect of the best arm").wait_for(timeout=WAIT_MS)
    _shot(page, "score-user")
    age.fill("500")
    page.get_by_role("button", name="Score").click()
    page.get_by_text("500 is outside the range seen in training").wait_for(timeout=WAIT_MS)
    _settle(page)
    assert page.get_by_text("Effect of the best arm").count() == 0  # the old prediction is gone


def test_experiment_analysis_runs_on_submit(page, dashboard):
    _open(page, f"{dashboard}/experiment_analysis")
    page.get_by_text("press Analyse").wait_for(timeout=WAIT_MS)
    users_b = page.get_by_label("Users", exact=True).nth(1)
    users_b.fill("15000")
    users_b.press("Tab")
    page.wait_for_timeout(1500)
    assert page.get_by_text("Sample ratio mismatch").count() == 0  # typing analyses nothing
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("Sample ratio mismatch").first.wait_for(timeout=WAIT_MS)
    _settle(page)
    charts_fill_their_width(page)
    _shot(page, "experiment-analysis")


def test_funnel_follows_an_edited_count(page, dashboard):
    _open(page, f"{dashboard}/funnel")
    before = _wait_label(page, "Funnel per variant")
    purchased = page.get_by_label("Purchased", exact=True).nth(1)
    purchased.fill("2000")
    purchased.press("Enter")
    after = _wait_label(page, "Funnel per variant", unlike=before)
    assert "treatment 20.0%" in after
    _settle(page)
    assert charts_fill_their_width(page) >= 2
    _shot(page, "funnel")


def _nav_titles(page) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] a')
    links.first.wait_for(timeout=WAIT_MS)
    return [re.sub(r"^\S+\s+", "", t.inner_text().strip()).strip() for t in links.all()]


def test_a_deep_link_opened_first_after_a_restart_sees_the_real_navigation(browser, api_url):
    """A fresh dashboard process whose first visitor opens a bookmark of a page, not the root."""
    with run_dashboard(api_url) as url:
        p = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            _open(p, f"{url}/model_quality")
            assert _nav_titles(p) == TITLES
            assert p.locator("h1").first.inner_text().strip() == "Model quality"
        finally:
            p.close()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the banner and its Retry must show
    with run_dashboard(dead) as url:
        p = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            p.goto(f"{url}/score_user", wait_until="domcontentloaded")
            p.get_by_role("button", name="Retry now").wait_for(timeout=WAIT_MS)
            assert p.get_by_text("API unreachable").first.is_visible()
            assert _nav_titles(p) == TITLES
        finally:
            p.close()
