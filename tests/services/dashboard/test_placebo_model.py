"""A model trained on the placebo market (no effect for anyone): the pages must say so.

The model still predicts a profit for its top users (it fits noise); the held-out users observe no
uplift for them, and the verdict banner warns before any figure.
"""

from collections.abc import Iterator

import httpx
import pytest

from tests.services.dashboard.conftest import api_env, open_page, serve_api


@pytest.fixture(scope="module")
def placebo_api(tmp_path_factory: pytest.TempPathFactory, test_seed: int) -> Iterator[str]:
    from services.trainer.data import from_market
    from services.trainer.pipeline import train
    from services.trainer.settings import TrainerSettings
    from shared.synthetic import MarketConfig, generate_market

    out = tmp_path_factory.mktemp("placebo-models")
    market = generate_market(MarketConfig(rows=16_000, seed=test_seed, shape="null", impression_users=1_000))
    train(from_market(market), out, TrainerSettings(n_jobs=2, holdout_sample_rows=4_000, learner="t"))
    with serve_api(api_env(out, tmp_path_factory.mktemp("placebo-var"))) as url:
        yield url


def test_policy_page_shows_no_observed_uplift_and_the_verdict(placebo_api, monkeypatch):
    monkeypatch.setenv("UPLIFT_API_URL", placebo_api)
    assert httpx.get(f"{placebo_api}/model").json()["verdict"]["signal"] is False
    curve = httpx.get(f"{placebo_api}/model/policy-curve", params={"budget": 1000.0}).json()
    chosen = curve["chosen"]
    observed = chosen["observed"]
    assert chosen["policy"]["treated"] > 0
    # The model predicts a gain over random targeting; the held-out users show none.
    assert chosen["policy"]["profit"] > chosen["random"]["profit"]
    assert observed["uplift"]["low"] < 0 < observed["uplift"]["high"]
    assert observed["profit_vs_random"]["low"] < 0 < observed["profit_vs_random"]["high"]

    at = open_page("views/policy_simulator.py")
    banners = [e.value for e in at.error]
    assert any("no reliable signal" in b for b in banners), banners
    warnings = [w.value for w in at.warning]
    assert any("not distinguishable from everyone's" in w for w in warnings), warnings
    metrics = {m.label: m.value for m in at.metric}
    assert "Predicted profit" in metrics and "Observed profit" in metrics
    captions = " ".join(c.value for c in at.caption)
    assert "pp to +" in captions  # the observed uplift's interval, in percentage points, spans zero

    at = open_page("views/model_quality.py")
    assert any("no reliable signal" in e.value for e in at.error)
