"""DR-Learner: the AIPW pseudo-outcome, and known effects recovered under design and estimated propensities."""

import numpy as np
import pytest

from shared.estimators import DRLearner, dr_pseudo_outcomes
from tests.shared.estimators.effect_data import (
    assert_recovers,
    assert_served_form,
    binary_data,
    confounded_data,
    confounded_propensity,
    continuous_data,
)


def _fit(data, seed, **kwargs):
    return DRLearner(n_estimators=200, n_jobs=2, random_state=seed, **kwargs).fit(data.X, data.t, data.y)


def test_pseudo_outcome_closed_form():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    t = np.array([1, 1, 0, 0])
    mu0 = np.array([0.2, 0.2, 0.4, 0.4])
    mu1 = np.array([0.5, 0.5, 0.6, 0.6])
    e = np.array([0.25, 0.5, 0.5, 0.8])
    expected = [0.3 + 0.5 / 0.25, 0.3 - 0.5 / 0.5, 0.2 - 0.6 / 0.5, 0.2 + 0.4 / 0.2]
    np.testing.assert_allclose(dr_pseudo_outcomes(y, t, mu0, mu1, e), expected)


def test_pseudo_outcome_is_unbiased_with_wrong_outcome_models(test_seed):
    # Double robustness: with the true propensity, even constant (wrong) outcome models average to the ATE.
    data = confounded_data(200_000, test_seed)
    e = confounded_propensity(data.X)
    zeros = np.zeros(len(e))
    phi = dr_pseudo_outcomes(data.y, data.t, zeros + 0.3, zeros + 0.3, e)
    assert phi.mean() == pytest.approx(data.tau.mean(), abs=0.01)


@pytest.mark.parametrize(
    ("e", "t", "match"),
    [(1.0, 1, "e: propensities must lie strictly between 0 and 1"), (0.5, 2, "treated: must be 0")],
)
def test_pseudo_outcome_refuses_bad_input(e, t, match):
    one = np.ones(3)
    with pytest.raises(ValueError, match=match):
        dr_pseudo_outcomes(one, one * t, one * 0.1, one * 0.2, one * e)


def test_recovers_a_binary_effect(test_seed):
    model = _fit(binary_data(12_000, test_seed), test_seed)
    test = binary_data(8_000, test_seed + 1)
    assert_recovers(model, test, ate_tol=0.02, min_corr=0.7, qini_share=0.8)
    assert_served_form(model, test.X)
    with pytest.raises(NotImplementedError, match="DRLearner models the effect directly"):
        model.predict_outcomes(test.X)


def test_estimated_propensity_on_confounded_data(test_seed):
    train = confounded_data(12_000, test_seed)
    model = _fit(train, test_seed, propensity="estimate")
    assert 0.0 <= model.propensity_clipped_[0] < 0.05
    assert_recovers(model, confounded_data(8_000, test_seed + 1), ate_tol=0.025, min_corr=0.7, qini_share=0.8)


def test_three_arms(test_seed):
    model = _fit(binary_data(15_000, test_seed, arms=3), test_seed)
    test = binary_data(8_000, test_seed + 1, arms=3)
    # 5k rows per arm: the difference in means alone has a standard error near 0.009.
    effects = assert_recovers(model, test, ate_tol=0.03, min_corr=0.5, qini_share=0.5)
    pocket = test.X[:, 2] < -0.5  # arm 2 hurts here (-0.15) and helps elsewhere (+0.05)
    assert effects[pocket, 1].mean() < effects[~pocket, 1].mean() - 0.02


def test_continuous_outcome_and_a_known_design(test_seed):
    model = _fit(continuous_data(10_000, test_seed), test_seed, propensity={0: 0.5, 1: 0.5}, n_folds=3)
    assert_recovers(model, continuous_data(5_000, test_seed + 1), ate_tol=0.5, min_corr=0.8, qini_share=None)
