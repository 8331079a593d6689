"""Real data: the Hillstrom e-mail experiment, three arms, a binary and a continuous outcome."""

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from shared.artifacts import resolve_current
from shared.bundle import ModelBundle
from shared.datasets import HILLSTROM_CONTROL, HILLSTROM_PATH
from shared.effect_form import combine

ARMS = [HILLSTROM_CONTROL, "Mens E-Mail", "Womens E-Mail"]


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(HILLSTROM_PATH)


def observed_ate(raw: pd.DataFrame, outcome: str) -> dict[str, float]:
    """Difference in means against control on all 64,000 customers: the randomized-experiment answer."""
    means = raw.groupby("segment")[outcome].mean()
    return {arm: float(means[arm] - means[HILLSTROM_CONTROL]) for arm in ARMS[1:]}


def evaluation(models):
    version_dir, manifest = resolve_current(models)
    return manifest, json.loads((version_dir / "evaluation.json").read_text())


def test_visit_model_has_three_arms_and_recovers_each_arms_effect(hillstrom_visit, raw):
    manifest, ev = evaluation(hillstrom_visit)
    assert manifest.data.arms == ARMS and manifest.data.control == HILLSTROM_CONTROL
    assert manifest.data.outcome_kind == "binary"
    # Outcome models per arm first; the learner the selection chose adds its effect boosters after them.
    assert manifest.uplift_model.booster_files[:3] == [f"outcome_arm{i}.ubj" for i in range(3)]
    assert manifest.uplift_model.n_outcome_boosters == 3 and manifest.learner["chosen"]
    assert manifest.data.extra["excluded"] == ["conversion", "spend"]
    assert manifest.data.extra["validation"]["srm"]["mismatch"] is False
    assert {f.name for f in manifest.features.features} == {
        "recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel",
    }  # fmt: skip
    assert manifest.features.spec("zip_code").categories == ("Rural", "Surburban", "Urban")
    truth = observed_ate(raw, "visit")
    for arm in ARMS[1:]:
        assert ev["arms"][arm]["ate_predicted"] == pytest.approx(truth[arm], abs=0.012)
    # Known from the experiment: the men's e-mail moves visits more than the women's, both help.
    assert ev["arms"]["Mens E-Mail"]["ate_predicted"] > ev["arms"]["Womens E-Mail"]["ate_predicted"] > 0
    # Bandit priors are conversion probabilities for every arm.
    for arms in manifest.bandit_priors.values():
        assert set(arms) == set(ARMS) and all(0 < v < 1 for v in arms.values())


def test_spend_model_is_a_regression_on_the_dollar_scale(hillstrom_spend, raw):
    manifest, ev = evaluation(hillstrom_spend)
    assert manifest.data.outcome_kind == "continuous" and manifest.data.arms == ARMS
    assert "value_per_conversion = 1" in (manifest.data.optimize_rule or "")
    bundle = ModelBundle.load_current(hillstrom_spend, use_onnx=False)
    config = json.loads(bundle.boosters[0].save_config())
    assert config["learner"]["objective"]["name"] == "reg:squarederror"
    X, _ = bundle.schema.encode_frame(raw[bundle.schema.names])
    mu = bundle.predict_outcomes(X)
    # Dollars, not probabilities: the mean prediction per arm is the arm's mean spend.
    means = raw.groupby("segment")["spend"].mean()
    for k, arm in enumerate(ARMS):
        rows = (raw["segment"] == arm).to_numpy()
        assert mu[rows, k].mean() == pytest.approx(means[arm], rel=0.25)
    truth = observed_ate(raw, "spend")
    for arm in ARMS[1:]:
        assert ev["arms"][arm]["ate_predicted"] == pytest.approx(truth[arm], abs=0.5)
        assert len(ev["arms"][arm]["deciles"]) == 10
    # The 0/1 bandit prior for a spend model is the observed share of buyers.
    for arms in manifest.bandit_priors.values():
        assert all(0 <= v < 0.05 for v in arms.values())


def test_failed_write_leaves_nothing_in_models(tmp_path, monkeypatch):
    from services.trainer import pipeline
    from tests.services.trainer.conftest import train_hillstrom

    def broken_plot(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "qini_plot", broken_plot)
    out = tmp_path / "models"
    with pytest.raises(OSError, match="disk full"):
        train_hillstrom(out, "visit", "t")
    assert list(out.iterdir()) == []


def test_onnx_copies_of_regression_boosters_match(hillstrom_spend):
    bundle = ModelBundle.load_current(hillstrom_spend)
    assert bundle.serving_format == "onnx" and bundle.parity_max_error is not None
    from shared.parity import probe_matrix

    X = probe_matrix(bundle.schema, n=64, seed=2)
    raw = np.column_stack([b.inplace_predict(X) for b in bundle.boosters])
    # The DR-learner's effect booster is served beside the outcome models and combined the same way.
    assert bundle.manifest.uplift_model.kind == "effect" and raw.shape[1] > len(bundle.arms)
    n = len(bundle.arms)
    ref = combine(raw[:, :n], raw[:, n:], bundle.effect_form)
    np.testing.assert_allclose(bundle.predict_outcomes(X), ref, atol=1e-4)
    assert isinstance(bundle.boosters[0], xgb.Booster)
