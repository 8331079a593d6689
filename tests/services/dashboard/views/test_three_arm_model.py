"""The pages against a three-arm synthetic model: the truth of every arm drives the oracle and the simulation."""

import httpx
import numpy as np
import pandas as pd
import pytest

from services.trainer.data import from_market
from services.trainer.pipeline import train
from services.trainer.settings import TrainerSettings
from shared.metrics import qini_curve
from shared.synthetic import MarketConfig, generate_market
from tests.services.dashboard.conftest import api_env, chart_descriptions, open_page, serve_api


@pytest.fixture(scope="module")
def three_arm_api(tmp_path_factory, test_seed):
    out = tmp_path_factory.mktemp("models3")
    market = generate_market(MarketConfig(rows=30_000, seed=test_seed, n_arms=3, impression_users=3_000))
    train(from_market(market), out, TrainerSettings(n_jobs=2, max_trees=80, holdout_sample_rows=1_000))
    with serve_api(api_env(out, tmp_path_factory.mktemp("var"))) as url:
        yield url


@pytest.fixture()
def on_three_arms(three_arm_api, monkeypatch):
    monkeypatch.setenv("UPLIFT_API_URL", three_arm_api)
    return three_arm_api


def test_oracle_curve_of_each_arm_ranks_by_that_arms_true_effect(three_arm_api):
    body = httpx.get(f"{three_arm_api}/model/sample", params={"n": 5000}).json()
    frame = pd.DataFrame(body["rows"], columns=body["columns"])
    curves = httpx.get(f"{three_arm_api}/model/curves", params={"points": 1001}).json()["arms"]
    assert list(curves) == ["1", "2"]
    for arm, res in curves.items():
        rows = frame[frame["treatment"].astype(str).isin(["0", arm])]
        t = (rows["treatment"].astype(str) == arm).to_numpy().astype(int)
        x, q = qini_curve(rows["conversion"].to_numpy(), t, rows[f"true_cate_{arm}"].to_numpy())
        oracle = res["qini"]["oracle"]
        assert res["n_users"] == len(rows)
        # Every point the API sent lies on the curve computed here from this arm's own truth.
        assert np.interp(oracle["x"], x / x[-1], q) == pytest.approx(oracle["y"], abs=1e-9)


def test_model_quality_has_an_oracle_for_every_arm(on_three_arms):
    at = open_page("views/model_quality.py")
    assert [s.value for s in at.subheader if s.value.startswith("Arm ")] == [
        "Arm 1 against control 0",
        "Arm 2 against control 0",
    ]
    assert chart_descriptions(at).count("Qini curve: model, oracle, random") == 2


def _rewards(url, sandbox=None):
    params = {"sandbox": sandbox} if sandbox else None
    return sum(
        a["successes"] + a["failures"] for a in httpx.get(f"{url}/bandit", params=params).json()["arms"]
    )


def test_live_bandit_simulates_three_arms(on_three_arms):
    url = on_three_arms
    start = _rewards(url)
    at = open_page("views/live_bandit.py")
    at.number_input(key="sim_n").set_value(90)
    at.button(key="sim_send").click().run()
    assert not at.exception and not at.error
    assert _rewards(url, at.session_state["bandit_sandbox"]) == 90
    assert _rewards(url) == start  # production untouched
    assert at.success[0].value.startswith("Round 1: 90 users")
    arms = {a["arm"] for a in httpx.get(f"{url}/bandit").json()["arms"]}
    assert arms == {"0", "1", "2"}
