"""The experiment's weight beside the log: below 1 when the log shows the market moved, 1 when it did not."""

from __future__ import annotations

import numpy as np
import pytest

from services.trainer.experiment_weight import (
    CANDIDATES,
    MIN_LOGGED_PER_ARM,
    choose_experiment_weight,
    kish_scaled,
)
from shared.estimators import TLearner


def _market(
    n: int, rng: np.random.Generator, group_effect: float, e: np.ndarray | float
) -> tuple[np.ndarray, ...]:
    """Two features; users with x0 > 0 (half) get ``group_effect`` from the treatment, the rest +0.1."""
    X = rng.normal(size=(n, 2)).astype(np.float32)
    p = np.broadcast_to(np.asarray(e, dtype=np.float64), (n,))
    t = (rng.random(n) < p).astype(int)
    base = 0.3 + 0.1 * (X[:, 1] > 0)
    effect = np.where(X[:, 0] > 0, group_effect, 0.1)
    y = (rng.random(n) < np.clip(base + t * effect, 0.01, 0.99)).astype(float)
    return X, t, y, p.copy()


def _fit_t(X: np.ndarray, t: np.ndarray, y: np.ndarray, e: np.ndarray, w: np.ndarray) -> TLearner:
    params = {"max_depth": 3, "learning_rate": 0.2, "min_child_weight": 5.0, "max_bin": 32}
    return TLearner(params=params, n_estimators=60, n_jobs=1, random_state=0).fit(
        X, t, y, propensity=e, sample_weight=w
    )


def _combined(log_group_effect: float, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    exp = _market(12_000, rng, group_effect=0.3, e=0.5)
    # The log: a policy with known, varied propensities.
    X, t, y, e = _market(4_000, rng, group_effect=log_group_effect, e=rng.uniform(0.2, 0.8, 4_000))
    parts = [np.concatenate([a, b]) for a, b in zip(exp, (X, t, y, e), strict=True)]
    from_log = np.r_[np.zeros(12_000, bool), np.ones(4_000, bool)]
    return (*parts, from_log)


def test_a_group_whose_effect_turned_harmful_lowers_the_experiments_weight() -> None:
    X, t, y, e, from_log = _combined(log_group_effect=-0.25, seed=1)
    choice = choose_experiment_weight(X, t, y, e, from_log, 0, _fit_t, seed=3)
    assert choice.chosen < 1.0, choice
    # The risks say why: at full weight the effects on held-out logged rows are further off.
    assert choice.risks[1.0][0] > choice.risks[choice.chosen][0]
    assert [c["weight"] for c in choice.to_dict()["candidates"]] == list(CANDIDATES)


def test_an_unchanged_market_keeps_the_experiment_at_full_weight() -> None:
    X, t, y, e, from_log = _combined(log_group_effect=0.3, seed=2)
    choice = choose_experiment_weight(X, t, y, e, from_log, 0, _fit_t, seed=3)
    assert choice.chosen == 1.0, choice


def test_too_few_logged_rows_in_an_arm_are_not_judged() -> None:
    X, t, y, e, from_log = _combined(log_group_effect=-0.25, seed=4)
    keep = ~from_log | (t == 0) | (np.cumsum(from_log & (t == 1)) < MIN_LOGGED_PER_ARM // 2)
    choice = choose_experiment_weight(
        X[keep], t[keep], y[keep], e[keep], from_log[keep], 0, pytest.fail, seed=3
    )
    assert choice.chosen == 1.0 and choice.risks == {}
    assert "not judged" in choice.reason


def test_only_rows_with_an_unclipped_propensity_judge() -> None:
    """Rows marked unsupported (their propensity was clipped) may say anything: they do not judge."""
    X, t, y, e, from_log = _combined(log_group_effect=-0.25, seed=1)
    changed = choose_experiment_weight(X, t, y, e, from_log, 0, _fit_t, seed=3)
    # The same changed log, but only its unchanged half (x0 <= 0) is supported: nothing left to object.
    supported = ~from_log | (X[:, 0] <= 0)
    judged = choose_experiment_weight(X, t, y, e, from_log, 0, _fit_t, seed=3, supported=supported)
    assert changed.chosen < 1.0 and judged.chosen == 1.0, (changed, judged)
    assert (
        judged.judged_rows == int((from_log & supported).sum()) < changed.judged_rows == int(from_log.sum())
    )


def test_kish_scaling_keeps_equal_weights_and_sums_to_the_effective_size() -> None:
    assert np.array_equal(kish_scaled(np.ones(5)), np.ones(5))
    w = np.r_[np.full(300, 0.25), np.ones(100)]
    scaled = kish_scaled(w)
    ess = w.sum() ** 2 / np.square(w).sum()
    assert scaled.sum() == pytest.approx(ess) and ess < len(w)
    # Only the scale changes: the experiment's rows still weigh a quarter of the log's.
    assert scaled[0] / scaled[-1] == pytest.approx(0.25)
