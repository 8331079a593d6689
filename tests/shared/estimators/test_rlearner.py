"""R-Learner: known effects recovered by minimising the R-loss, pairwise for several arms."""

import pytest

from shared.estimators import RLearner
from tests.shared.estimators.effect_data import (
    assert_recovers,
    assert_served_form,
    binary_data,
    confounded_data,
    continuous_data,
)


def _fit(data, seed, **kwargs):
    return RLearner(n_estimators=200, n_jobs=2, random_state=seed, **kwargs).fit(data.X, data.t, data.y)


def test_recovers_a_binary_effect(test_seed):
    model = _fit(binary_data(12_000, test_seed), test_seed)
    test = binary_data(8_000, test_seed + 1)
    assert_recovers(model, test, ate_tol=0.02, min_corr=0.7, qini_share=0.8)
    assert_served_form(model, test.X)
    with pytest.raises(NotImplementedError, match="RLearner models the effect directly"):
        model.predict_outcomes(test.X)


def test_estimated_propensity_on_confounded_data(test_seed):
    model = _fit(confounded_data(12_000, test_seed), test_seed, propensity="estimate")
    assert 0.0 <= model.propensity_clipped_[0] < 0.05
    assert_recovers(model, confounded_data(8_000, test_seed + 1), ate_tol=0.025, min_corr=0.7, qini_share=0.8)


def test_three_arms(test_seed):
    model = _fit(binary_data(15_000, test_seed, arms=3), test_seed)
    test = binary_data(8_000, test_seed + 1, arms=3)
    # 5k rows per arm: the difference in means alone has a standard error near 0.009.
    effects = assert_recovers(model, test, ate_tol=0.03, min_corr=0.5, qini_share=0.5)
    pocket = test.X[:, 2] < -0.5  # arm 2 hurts here (-0.15) and helps elsewhere (+0.05)
    assert effects[pocket, 1].mean() < effects[~pocket, 1].mean() - 0.02


def test_continuous_outcome(test_seed):
    model = _fit(continuous_data(10_000, test_seed), test_seed)
    assert_recovers(model, continuous_data(5_000, test_seed + 1), ate_tol=0.5, min_corr=0.8, qini_share=None)
