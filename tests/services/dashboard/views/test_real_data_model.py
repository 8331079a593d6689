"""Every page against a model trained on real data (Hillstrom: three arms, no known truth)."""

import subprocess
import sys

import pytest

from shared.datasets import HILLSTROM_CONTROL, HILLSTROM_PATH
from tests.services.dashboard.conftest import PAGES, api_env, chart_descriptions, open_page, serve_api


@pytest.fixture(scope="module")
def hillstrom_api(tmp_path_factory):
    out = tmp_path_factory.mktemp("hillstrom-models")
    cmd = [
        sys.executable, "-m", "services.cli", "train", "--data", str(HILLSTROM_PATH), "--treatment", "segment",
        "--outcome", "visit", "--control", HILLSTROM_CONTROL, "--exclude", "conversion", "--exclude", "spend",
        "--seed", "7", "--out", str(out),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    with serve_api(api_env(out, tmp_path_factory.mktemp("var"))) as url:
        yield url


@pytest.fixture()
def on_hillstrom(hillstrom_api, monkeypatch):
    monkeypatch.setenv("UPLIFT_API_URL", hillstrom_api)
    return hillstrom_api


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_without_error(on_hillstrom, page):
    at = open_page(page)
    assert [t.value for t in at.title] == [PAGES[page]]
    # The only error allowed is the held-out verdict (Hillstrom's mens arm has no reliable signal).
    assert all("Held-out verdict" in e.value for e in at.error), [e.value for e in at.error]


def test_hillstroms_weak_arm_is_named_by_the_verdict_banner(on_hillstrom):
    at = open_page("views/model_quality.py")
    verdicts = [e.value for e in at.error if "Held-out verdict" in e.value]
    verdicts += [s.value for s in at.success if "Held-out verdict" in s.value]
    assert len(verdicts) == 1


def test_model_quality_has_one_section_per_arm_and_no_oracle(on_hillstrom):
    at = open_page("views/model_quality.py")
    sections = [s.value for s in at.subheader if s.value.startswith("Arm ")]
    assert sections == [
        f"Arm Mens E-Mail against control {HILLSTROM_CONTROL}",
        f"Arm Womens E-Mail against control {HILLSTROM_CONTROL}",
    ]
    charts = chart_descriptions(at)
    assert charts.count("Qini curve: model, random") == 2  # the truth of real data is unknown
    assert "Qini (oracle)" not in [m.label for m in at.metric]


def test_live_bandit_explains_simulation_needs_the_synthetic_market(on_hillstrom):
    at = open_page("views/live_bandit.py")
    assert any("only the synthetic market has" in i.value for i in at.info)
    assert not at.button  # no control that cannot work
    assert any(d.startswith("posterior densities of") for d in chart_descriptions(at))
