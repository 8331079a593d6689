"""X-Learner: known effects recovered; the blend weight is the arm's propensity among its pair's rows."""

import numpy as np
import pytest

from shared.estimators import XLearner
from tests.shared.estimators.effect_data import (
    assert_recovers,
    assert_served_form,
    binary_data,
    continuous_data,
)


def _fit(data, seed, **kwargs):
    return XLearner(n_estimators=200, n_jobs=2, random_state=seed, **kwargs).fit(data.X, data.t, data.y)


def test_recovers_a_binary_effect(test_seed):
    train = binary_data(12_000, test_seed)
    model = _fit(train, test_seed)
    test = binary_data(8_000, test_seed + 1)
    assert_recovers(model, test, ate_tol=0.02, min_corr=0.8, qini_share=0.8)
    assert_served_form(model, test.X)
    g = model.blend_weights_[0]
    assert g == pytest.approx(train.t.mean())
    assert model.effect_functions_[0].weights == (g, 1.0 - g)
    # predict_outcomes is stage 1: one outcome model per arm, probabilities near the arms' rates.
    mu = model.predict_outcomes(train.X)
    assert mu[train.t == 0, 0].mean() == pytest.approx(train.y[train.t == 0].mean(), abs=0.01)


def test_unequal_shares_and_a_known_design(test_seed):
    train = binary_data(10_000, test_seed, treated_share=0.8)
    shares = _fit(train, test_seed)
    design = _fit(train, test_seed, propensity={0: 0.2, 1: 0.8})
    assert design.blend_weights_ == [pytest.approx(0.8)]
    assert shares.blend_weights_[0] == pytest.approx(0.8, abs=0.02)
    assert_recovers(design, binary_data(8_000, test_seed + 1), ate_tol=0.025, min_corr=0.75, qini_share=0.8)


def test_three_arms(test_seed):
    model = _fit(binary_data(15_000, test_seed, arms=3), test_seed)
    test = binary_data(8_000, test_seed + 1, arms=3)
    # 5k rows per arm: the difference in means alone has a standard error near 0.009.
    effects = assert_recovers(model, test, ate_tol=0.03, min_corr=0.6, qini_share=0.5)
    pocket = test.X[:, 2] < -0.5  # arm 2 hurts here (-0.15) and helps elsewhere (+0.05)
    assert effects[pocket, 1].mean() < effects[~pocket, 1].mean() - 0.02
    assert model.predict_outcomes(test.X).shape == (8_000, 3)


def test_continuous_outcome(test_seed):
    model = _fit(continuous_data(10_000, test_seed), test_seed)
    test = continuous_data(5_000, test_seed + 1)
    assert_recovers(model, test, ate_tol=0.5, min_corr=0.85, qini_share=None)
    assert np.abs(model.predict_outcomes(test.X)[:, 0].mean() - 50.0) < 1.0


def test_reusing_a_fitted_t_learner_as_stage_one_changes_nothing(test_seed):
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    from shared.estimators import TLearner
    from shared.estimators.registry import sharing_outcomes

    train = binary_data(6_000, test_seed)
    t = TLearner(n_estimators=200, n_jobs=2, random_state=test_seed).fit(train.X, train.t, train.y)
    alone = _fit(train, test_seed)
    shared = sharing_outcomes(XLearner(n_estimators=200, n_jobs=2, random_state=test_seed), t)
    # clone keeps the frozen, fitted T-learner: a cloned X-learner reuses it too.
    reused = clone(shared).fit(train.X, train.t, train.y)
    assert reused.outcome_boosters_[0] is t.boosters_[0]
    np.testing.assert_array_equal(reused.predict(train.X), alone.predict(train.X))
    # A T-learner of other arms (or features) is refused with the parameter's name.
    other = TLearner(n_estimators=20, n_jobs=2).fit(train.X[:, :3], train.t, train.y)
    with pytest.raises(ValueError, match="outcome_models"):
        XLearner(outcome_models=FrozenEstimator(other)).fit(train.X, train.t, train.y)
