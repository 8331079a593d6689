"""The held-out calibration: brings a model's effects towards the true scale, leaves a null market and
observational data alone, and what is published serves exactly the calibrated effect."""

import json
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.trainer.calibrate import calibrate_on_held_out
from services.trainer.data import from_market, split_mask
from services.trainer.learning import learn
from services.trainer.settings import TrainerSettings
from shared.artifacts import resolve_current
from shared.bundle import ModelBundle
from shared.effect_form import effect_interval
from shared.synthetic import MarketConfig, generate_market


def _fit(shape: str, rows: int) -> tuple:
    data = from_market(generate_market(MarketConfig(rows=rows, seed=3, shape=shape, impression_users=500)))
    X, _ = data.schema().encode_frame(data.frame[data.features])
    t = data.frame[data.treatment].to_numpy()
    y = data.frame[data.outcome].to_numpy(dtype=np.float64)
    settings = TrainerSettings(n_jobs=2, learner="t", max_trees=120)
    test = split_mask(len(y), settings.test_fraction, data.seed)
    learned = learn(
        X[~test], t[~test], y[~test], control=data.control, outcome_kind="binary", settings=settings,
        seed=data.seed, propensity=data.propensity, step=lambda _n: nullcontext(), report=lambda _m: None,
    )  # fmt: skip
    fresh = generate_market(MarketConfig(rows=50_000, seed=4, shape=shape, impression_users=500)).users
    Xf, _ = data.schema().encode_frame(fresh[data.features])
    return learned, X[test], t[test], y[test], data.control, Xf, fresh["true_cate"].to_numpy()


def _slope_of_truth(truth: np.ndarray, effect: np.ndarray) -> float:
    return float(np.cov(truth, effect)[0, 1] / np.var(effect, ddof=1))


def test_a_model_off_the_true_scale_is_brought_towards_it() -> None:
    learned, X, t, y, control, Xf, truth = _fit("smooth", 80_000)
    before = learned.served.predict(Xf)[:, 0]
    out, report = calibrate_on_held_out(learned, X, t, y, control)
    (arm,) = report["arms"]
    assert arm["applied"] and "differs from 1" in arm["reason"]
    after = out.served.predict(Xf)[:, 0]
    m = arm["mean_effect"]
    np.testing.assert_allclose(after, m + arm["slope"] * (before - m), rtol=1e-6, atol=1e-9)
    # On fresh users of the market, the slope of the true effect on the served one moves towards 1
    # (this T-learner reads some noise as signal: its effects are too spread, the slope shrinks them).
    assert abs(_slope_of_truth(truth, after) - 1) < abs(_slope_of_truth(truth, before) - 1)
    # Ranks unchanged; the placebo is scaled by the same slope, not shifted.
    assert np.all(np.diff(after[np.argsort(before)]) >= -1e-9)
    assert out.placebo.form.calibration == ((0.0, arm["slope"]),)


def test_a_null_markets_noise_is_shrunk_towards_the_average_effect() -> None:
    # No user has an effect: whatever spread the T-learner's effects have is noise, and the held-out
    # rows say so (slope near 0), so the served effects collapse towards the average (≈ 0).
    learned, X, t, y, control, Xf, _ = _fit("null", 30_000)
    out, report = calibrate_on_held_out(learned, X, t, y, control)
    (arm,) = report["arms"]
    assert arm["applied"] and 0 < arm["slope"] < 0.5
    before, after = learned.served.predict(Xf)[:, 0], out.served.predict(Xf)[:, 0]
    assert after.std() < 0.5 * before.std()
    # ... and the level stays the model's average effect.
    assert after.mean() == pytest.approx(before.mean(), abs=0.002)


def test_the_published_model_serves_the_calibrated_effect(tmp_path: Path, fast_training: None) -> None:
    out = tmp_path / "models"
    args = [
        "train",
        "--rows",
        "80000",
        "--seed",
        "3",
        "--shape",
        "smooth",
        "--learner",
        "t",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "effect scale on held-out rows, arm 1: slope" in res.output
    version_dir, manifest = resolve_current(out)
    (arm,) = json.loads((version_dir / "evaluation.json").read_text())["learner"]["calibration"]["arms"]
    assert arm["applied"] and manifest.learner["calibration"]["arms"][0]["slope"] == arm["slope"]
    form = manifest.uplift_model.effect_form
    assert form is not None
    assert form["calibration"] == [[pytest.approx((1 - arm["slope"]) * arm["mean_effect"]), arm["slope"]]]
    bundle = ModelBundle.load_current(out)
    users = generate_market(MarketConfig(rows=2000, seed=9, shape="smooth", impression_users=500)).users
    X, _ = bundle.schema.encode_frame(users[bundle.schema.names])
    # ONNX (the API's path) and XGBoost agree on the calibrated effect; the members' spread is scaled.
    np.testing.assert_allclose(bundle.predict_outcomes(X[:50]), bundle.xgboost_outcomes(X[:50]), atol=1e-5)
    mu = bundle.xgboost_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    lo, hi = bundle.effect_intervals(X, effects, 0.9)
    lo1, hi1 = effect_interval(effects, bundle._member_raw(X), 0.9)
    np.testing.assert_allclose(hi - lo, arm["slope"] * (hi1 - lo1))
