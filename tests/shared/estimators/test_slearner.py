"""S-Learner: known effects recovered from its distilled serving form; the joint model answers outcomes."""

import numpy as np

from shared.estimators import SLearner
from tests.shared.estimators.effect_data import (
    assert_recovers,
    assert_served_form,
    binary_data,
    continuous_data,
)


def _fit(data, seed):
    return SLearner(n_estimators=200, n_jobs=2, random_state=seed).fit(data.X, data.t, data.y)


def test_recovers_a_binary_effect(test_seed):
    model = _fit(binary_data(12_000, test_seed), test_seed)
    test = binary_data(8_000, test_seed + 1)
    effect = assert_recovers(model, test, ate_tol=0.02, min_corr=0.8, qini_share=0.8)
    assert_served_form(model, test.X)
    # The distilled booster stays close to the joint model's own difference of outcomes.
    mu = model.predict_outcomes(test.X)
    assert mu.shape == (8_000, 2) and ((mu >= 0) & (mu <= 1)).all()
    gap = np.sqrt(np.mean((effect[:, 0] - (mu[:, 1] - mu[:, 0])) ** 2))
    assert gap < 0.25 * effect.std()
    assert model.distillation_rmse_[0] < 0.25 * effect.std()


def test_three_arms(test_seed):
    model = _fit(binary_data(15_000, test_seed, arms=3), test_seed)
    assert model.arms_ == [0, 1, 2] and len(model.effect_functions_) == 2
    test = binary_data(8_000, test_seed + 1, arms=3)
    # 5k rows per arm: the difference in means alone has a standard error near 0.009.
    effects = assert_recovers(model, test, ate_tol=0.03, min_corr=0.6, qini_share=0.5)
    pocket = test.X[:, 2] < -0.5  # arm 2 hurts here (-0.15) and helps elsewhere (+0.05)
    assert effects[pocket, 1].mean() < effects[~pocket, 1].mean() - 0.02
    assert model.predict_outcomes(test.X).shape == (8_000, 3)


def test_continuous_outcome(test_seed):
    model = _fit(continuous_data(10_000, test_seed), test_seed)
    assert model.outcome_kind_ == "continuous"
    test = continuous_data(5_000, test_seed + 1)
    assert_recovers(model, test, ate_tol=0.5, min_corr=0.85, qini_share=None)
    mu = model.predict_outcomes(test.X)
    assert abs(mu[:, 0].mean() - 50.0) < 1.0
    assert abs((mu[:, 1] - mu[:, 0]).mean() - test.tau[:, 0].mean()) < 0.5
