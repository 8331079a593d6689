"""Per-row propensities and sample weights at fit time: validation, wiring into every booster, and recovery
of the true average effect from rows a feature-dependent ("wrong") policy assigned."""

from __future__ import annotations

import numpy as np
import pytest

from shared.estimators import LEARNERS, TLearner
from shared.estimators.weights import check_row_weights
from tests.shared.estimators.effect_data import binary_data

ALL = sorted(LEARNERS)


def policy_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows a policy assigned: P(treated | x) = 0.9 when x1 > 0 else 0.1, and x1 also moves the baseline
    and the effect, so pooling these rows as if randomized mixes the policy into the effect."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    e = np.where(X[:, 1] > 0, 0.9, 0.1)
    t = (rng.random(n) < e).astype(int)
    tau = np.where(X[:, 0] > 0.5, 0.3, 0.0) - 0.1 * (X[:, 1] > 0)
    p = 0.1 + 0.3 * (X[:, 1] > 0) + t * tau
    return X, t, (rng.random(n) < p).astype(float), tau, e


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"propensity": np.full(9, 0.5)}, "propensity: must be 1-D with one entry per row"),
        ({"propensity": np.r_[np.full(9, 0.5), 1.0]}, "strictly between 0 and 1"),
        ({"propensity": np.r_[np.full(9, 0.5), np.nan]}, "propensity: must be finite"),
        ({"sample_weight": np.r_[np.ones(9), -1.0]}, "sample_weight: must be non-negative"),
        ({"sample_weight": np.zeros(10)}, "at least one positive weight"),
    ],
)
def test_bad_row_weights_name_the_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_row_weights(kwargs.get("propensity"), kwargs.get("sample_weight"), 10, 2)


def test_per_row_propensities_need_two_arms() -> None:
    d = binary_data(600, 1, arms=3)
    with pytest.raises(
        ValueError, match="propensity: per-row propensities P\\(treatment \\| x\\) need exactly two"
    ):
        TLearner(n_estimators=5).fit(d.X, d.t, d.y, propensity=np.full(len(d.y), 0.5))


@pytest.mark.parametrize("code", ALL)
def test_unit_weights_change_nothing(code: str) -> None:
    d = binary_data(1_500, 2)
    make = LEARNERS[code]
    plain = make(n_estimators=30, n_jobs=1, random_state=3).fit(d.X, d.t, d.y)
    ones = make(n_estimators=30, n_jobs=1, random_state=3).fit(d.X, d.t, d.y, sample_weight=np.ones(len(d.y)))
    np.testing.assert_allclose(plain.predict(d.X), ones.predict(d.X), rtol=1e-6, atol=1e-6)


def test_t_learner_outcome_models_are_inverse_propensity_weighted() -> None:
    X, t, y, _, e = policy_data(3_000, 4)
    known = TLearner(n_estimators=30, n_jobs=1, random_state=3).fit(X, t, y, propensity=e)
    by_hand = TLearner(n_estimators=30, n_jobs=1, random_state=3).fit(
        X, t, y, sample_weight=np.where(t == 1, 1 / e, 1 / (1 - e))
    )
    plain = TLearner(n_estimators=30, n_jobs=1, random_state=3).fit(X, t, y)
    np.testing.assert_allclose(known.predict(X), by_hand.predict(X), rtol=1e-6, atol=1e-6)
    assert np.abs(known.predict(X) - plain.predict(X)).max() > 1e-3


def test_the_fit_leaves_no_copy_of_its_weights() -> None:
    X, t, y, _, e = policy_data(600, 5)
    model = TLearner(n_estimators=5).fit(X, t, y, propensity=e)
    assert not hasattr(model, "_row_weights")
    assert model.row_weights.propensity is None


@pytest.mark.parametrize("code", ["ct", "r", "dr"])
def test_known_propensities_recover_the_average_effect_that_pooling_misses(code: str) -> None:
    X, t, y, _, e = policy_data(20_000, 3)
    X_new, _, _, tau_new, _ = policy_data(4_000, 4)
    truth = float(tau_new.mean())
    make = LEARNERS[code]
    naive = make(n_estimators=200, n_jobs=1, random_state=1).fit(X, t, y)
    known = make(n_estimators=200, n_jobs=1, random_state=1).fit(X, t, y, propensity=e)
    naive_error = abs(float(naive.predict(X_new).mean()) - truth)
    known_error = abs(float(known.predict(X_new).mean()) - truth)
    assert known_error < 0.03, (code, known_error)
    assert known_error < 0.5 * naive_error, (code, known_error, naive_error)


def test_an_x_learner_sharing_a_weighted_t_learner_equals_fitting_its_own() -> None:
    from sklearn.frozen import FrozenEstimator

    from shared.estimators import XLearner

    X, t, y, _, e = policy_data(3_000, 6)
    t_model = TLearner(n_estimators=30, n_jobs=1, random_state=3).fit(X, t, y, propensity=e)
    own = XLearner(n_estimators=30, n_jobs=1, random_state=3).fit(X, t, y, propensity=e)
    shared = XLearner(n_estimators=30, n_jobs=1, random_state=3, outcome_models=FrozenEstimator(t_model))
    shared.fit(X, t, y, propensity=e)
    np.testing.assert_allclose(own.predict(X), shared.predict(X), rtol=1e-6, atol=1e-6)
