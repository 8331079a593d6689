"""The served form: combine() reproduces each learner's own predictions, averages included."""

import numpy as np
import pytest

from shared.effect_form import T_LEARNER_FORM, EffectForm, combine, effect_interval, effect_samples
from shared.estimators import TLearner
from shared.estimators.served import ServedModel


def test_t_learner_form_leaves_outcomes_alone() -> None:
    mu = np.array([[0.1, 0.3], [0.2, 0.1]])
    assert combine(mu, None, T_LEARNER_FORM) is mu


def test_effect_form_adds_weighted_boosters_to_control() -> None:
    mu = np.array([[0.1, 0.3, 0.5]])
    raw = np.array([[0.02, 0.04, -0.1]])
    form = EffectForm(outcome_weight=0.5, terms=(((0, 1.0), (1, 0.5)), ((2, 2.0),)), offsets=(0.01, -0.03))
    out = combine(mu, raw, form)
    assert out[0, 0] == pytest.approx(0.1)
    assert out[0, 1] - out[0, 0] == pytest.approx(0.5 * 0.2 + 0.01 + 0.02 + 0.5 * 0.04)
    assert out[0, 2] - out[0, 0] == pytest.approx(0.5 * 0.4 - 0.03 + 2.0 * -0.1)
    assert EffectForm.from_dict(form.to_dict()) == form


def _fitted_t_learner(rng: np.random.Generator) -> tuple[np.ndarray, TLearner]:
    """2,000 users whose first feature switches a 10-point effect on, and a T-learner fitted on them."""
    X = rng.normal(size=(2000, 3)).astype(np.float32)
    t = rng.integers(0, 2, 2000)
    y = (rng.random(2000) < 0.3 + 0.1 * t * (X[:, 0] > 0)).astype(float)
    return X, TLearner(n_estimators=30).fit(X, t, y)


def test_served_t_learner_equals_the_learner() -> None:
    rng = np.random.default_rng(0)
    X, model = _fitted_t_learner(rng)
    served = ServedModel(baseline=model, members=[model], codes=["t"])
    assert served.form.is_t_learner and served.effect_boosters == []
    np.testing.assert_allclose(served.predict(X)[:, 0], model.predict(X))


def test_a_calibrated_form_maps_each_arms_effect_last() -> None:
    mu = np.array([[0.1, 0.3, 0.5], [0.2, 0.2, 0.1]])
    form = EffectForm(outcome_weight=1.0, calibration=((0.01, 2.0), (0.0, 1.0)))
    assert not form.is_t_learner
    out = combine(mu, None, form)
    np.testing.assert_allclose(out[:, 1] - out[:, 0], 0.01 + 2.0 * (mu[:, 1] - mu[:, 0]))
    np.testing.assert_allclose(out[:, 2] - out[:, 0], mu[:, 2] - mu[:, 0])
    assert EffectForm.from_dict(form.to_dict()) == form
    # A manifest written before calibration existed reads as uncalibrated.
    assert EffectForm.from_dict({"outcome_weight": 1.0}).calibration == ()
    assert EffectForm(outcome_weight=1.0, calibration=((0.0, 1.0),)).is_t_learner


def test_a_calibrated_served_model_scales_effects_and_the_members_spread() -> None:
    rng = np.random.default_rng(0)
    X, model = _fitted_t_learner(rng)
    served = ServedModel(baseline=model, members=[model], codes=["t"], calibration=((-0.01, 1.5),))
    np.testing.assert_allclose(served.predict(X)[:, 0], -0.01 + 1.5 * model.predict(X), rtol=1e-6, atol=1e-9)
    point = served.predict(X[:5])
    raw = rng.normal(size=(5, 1, 8))
    plain, scaled = effect_samples(point, raw), effect_samples(point, raw, served.form.slopes)
    np.testing.assert_allclose(scaled - point[:, :, None], 1.5 * (plain - point[:, :, None]))
    lo, hi = effect_interval(point, raw, 0.9, served.form.slopes)
    lo1, hi1 = effect_interval(point, raw, 0.9)
    np.testing.assert_allclose(hi - lo, 1.5 * (hi1 - lo1))
