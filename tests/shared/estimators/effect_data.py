"""Small seeded data sets with a known heterogeneous effect per arm, and the recovery check every learner meets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from shared.estimators import MetaLearner
from shared.metrics import qini_auc


@dataclass(frozen=True)
class EffectData:
    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    tau: np.ndarray  # true effect, shape (n, n_arms - 1), arms 1.. against control 0


def binary_data(n: int, seed: int, arms: int = 2, treated_share: float | None = None) -> EffectData:
    """Conversion with arm 1 working only on x0 > 0.5 and arm 2 hurting on x2 < -0.5."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    t = rng.integers(0, arms, n) if treated_share is None else (rng.random(n) < treated_share).astype(int)
    base = 0.2 + 0.1 * (X[:, 1] > 0)
    tau = np.column_stack([np.where(X[:, 0] > 0.5, 0.3, 0.0), np.where(X[:, 2] < -0.5, -0.15, 0.05)])
    tau = tau[:, : arms - 1]
    p = base + np.select([t == k for k in range(1, arms)], [tau[:, k - 1] for k in range(1, arms)], 0.0)
    return EffectData(X, t, (rng.random(n) < p).astype(float), tau)


def confounded_propensity(X: np.ndarray) -> np.ndarray:
    """The true P(treated | x) of ``confounded_data``."""
    return 1.0 / (1.0 + np.exp(-X[:, 1].astype(np.float64)))


def confounded_data(n: int, seed: int) -> EffectData:
    """Observational: the chance of treatment rises with x1, which also raises the baseline."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    e = confounded_propensity(X)
    t = (rng.random(n) < e).astype(int)
    tau = np.where(X[:, 0] > 0.5, 0.3, 0.0)
    p = 0.1 + 0.3 * (X[:, 1] > 0) + t * tau
    return EffectData(X, t, (rng.random(n) < p).astype(float), tau[:, None])


def continuous_data(n: int, seed: int, arms: int = 2) -> EffectData:
    """Spend around 50 with noise 5; arm 1 adds 8 where x0 > 0 (else -2) plus 2 x1; arm 2 adds -6 where x3 > 0 else 3."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    t = rng.integers(0, arms, n)
    tau = np.column_stack(
        [np.where(X[:, 0] > 0, 8.0, -2.0) + 2.0 * X[:, 1], np.where(X[:, 3] > 0, -6.0, 3.0)]
    )
    tau = tau[:, : arms - 1]
    lift = np.select([t == k for k in range(1, arms)], [tau[:, k - 1] for k in range(1, arms)], 0.0)
    return EffectData(X, t, 50 + 10 * X[:, 2] + lift + rng.normal(0, 5, n), tau)


def assert_recovers(
    model: MetaLearner, test: EffectData, *, ate_tol: float, min_corr: float, qini_share: float | None
) -> np.ndarray:
    """Per arm: mean predicted effect within ``ate_tol`` of the true mean, correlation with the truth above
    ``min_corr`` and (binary outcome) Qini on the arm's and control's rows at least ``qini_share`` of the
    oracle's (the true effect used as the score)."""
    effects = model.predict(test.X).reshape(len(test.X), -1)
    assert effects.shape == test.tau.shape
    for k in range(test.tau.shape[1]):
        assert effects[:, k].mean() == pytest.approx(test.tau[:, k].mean(), abs=ate_tol)
        assert np.corrcoef(effects[:, k], test.tau[:, k])[0, 1] > min_corr
        if qini_share is not None:
            rows = (test.t == k + 1) | (test.t == 0)
            treated = (test.t[rows] == k + 1).astype(int)
            oracle = qini_auc(test.y[rows], treated, test.tau[rows, k])
            assert oracle > 0
            assert qini_auc(test.y[rows], treated, effects[rows, k]) >= qini_share * oracle
    return effects


def assert_served_form(model: MetaLearner, X: np.ndarray) -> None:
    """predict equals the sum over effect_functions_ recomputed by hand from the boosters."""
    by_hand = np.column_stack(
        [
            f.offset
            + sum(
                w * b.inplace_predict(X.astype(np.float32)).astype(np.float64)
                for w, b in zip(f.weights, f.boosters, strict=True)
            )
            for f in model.effect_functions_
        ]
    )
    np.testing.assert_allclose(model.predict(X).reshape(len(X), -1), by_hand, rtol=0, atol=1e-12)
