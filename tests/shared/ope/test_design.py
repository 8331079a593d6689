"""DR's design variance: the hand-worked plug-in, and coverage where the log all but never gave the
target's arm (the bootstrap alone then misses the truth whenever the direct method is off there)."""

from __future__ import annotations

import numpy as np
import pytest

from shared.ope import doubly_robust
from shared.ope.design import design_interval, row_variance
from shared.ope.policies import evaluate_log, logged_from_frame


def test_row_variance_worked_by_hand() -> None:
    # Treat-all; the direct part is (0.4, 0.5): variance 0.0025. The corrections: 1/0.5 × 0.4 × 0.6 = 0.48
    # and 1/0.1 × 0.5 × 0.5 = 2.5, mean 1.49.
    pi = np.array([[0.0, 1.0], [0.0, 1.0]])
    mu = np.array([[0.5, 0.5], [0.9, 0.1]])
    q = np.array([[0.2, 0.4], [0.1, 0.5]])
    reward, cols = np.array([1.0, 0.0]), np.array([1, 0])
    assert row_variance(pi, mu, q, reward, cols) == pytest.approx(0.0025 + 1.49, abs=1e-12)
    # Not 0/1 rewards: each arm's mean squared residual, (1.5 − 0.4)² for arm 1 and (0.2 − 0.1)² for arm 0.
    spend = np.array([1.5, 0.2])
    assert row_variance(pi, mu, q, spend, cols) == pytest.approx(
        0.0025 + (1.21 / 0.5 + 1.21 / 0.1) / 2, abs=1e-12
    )
    # An arm the logging policy never gives, where the target goes: the log cannot say anything there.
    never = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert row_variance(pi, never, q, reward, cols) == float("inf")
    assert design_interval(0.3, float("inf"), 2, 0.95, reward) == (0.0, 1.0)


def _near_deterministic_log(seed: int, n: int = 4000) -> dict[str, np.ndarray]:
    """The logging policy treats users with x > 0.8 at 0.95 and the rest at 0.0001 (0.32 such treatments
    expected in 4,000 rows); the direct method's treated outcome is 0.03 too low exactly there."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=n)
    m = np.column_stack([np.full(n, 0.2), 0.2 + 0.1 * x])
    p_treat = np.where(x > 0.8, 0.95, 0.0001)
    treated = rng.random(n) < p_treat
    reward = (rng.random(n) < m[np.arange(n), treated.astype(int)]).astype(float)
    q = m.copy()
    q[x <= 0.8, 1] -= 0.03
    mu = np.column_stack([1.0 - p_treat, p_treat])
    return {
        "arm": treated.astype(int),
        "reward": reward,
        "propensity": np.where(treated, p_treat, 1.0 - p_treat),
        "q": q,
        "mu": mu,
    }


TREAT_ALL_VALUE = 0.25  # E[0.2 + 0.1 x] for x uniform on [0, 1]


def test_design_interval_covers_where_the_bootstrap_alone_does_not() -> None:
    covered = {"bootstrap": 0, "design": 0}
    seeds = range(40)
    for seed in seeds:
        d = _near_deterministic_log(seed)
        pi = np.tile([0.0, 1.0], (len(d["arm"]), 1))
        base = (d["arm"], d["reward"], d["propensity"], pi, d["q"], [0, 1])
        alone = doubly_robust(*base, n_bootstrap=200, seed=seed)
        design = doubly_robust(*base, logging_probs=d["mu"], n_bootstrap=200, seed=seed)
        assert design.value == alone.value  # the estimate is the same; only its interval changes
        assert design.low <= max(alone.low, 0.0) and min(alone.high, 1.0) <= design.high
        # The bootstrap's own interval stays beside the wider one, for a reader who trusts the model.
        assert (design.bootstrap_low, design.bootstrap_high) == (alone.low, alone.high)
        assert (alone.bootstrap_low, alone.bootstrap_high) == (alone.low, alone.high)
        covered["bootstrap"] += alone.low <= TREAT_ALL_VALUE <= alone.high
        covered["design"] += design.low <= TREAT_ALL_VALUE <= design.high
        if design.high - design.low > 1.5 * (alone.high - alone.low):
            assert any("bootstrap of the logged rows alone" in w for w in design.warnings)
    # The direct method is off by 0.024 on average where the log is silent, against a bootstrap
    # interval about ±0.005 wide: it covers the truth only when a rare treated row happens to land there.
    # The expected corrections there have variance 0.8 × 0.19 / 0.0001 per row: no log of 4,000 rows
    # can pin the value down, and the design interval says so by spanning the rewards' range.
    assert covered["bootstrap"] <= 20
    assert covered["design"] >= 38


def test_the_interval_stays_inside_the_rewards_range_where_the_bootstrap_leaves_it() -> None:
    """A 0/1 reward: no policy's mean lies outside [0, 1], but a bootstrap of DR terms as large as
    (0 - 0.9) / 0.02 = -45 does. DR's interval is cut to the range; the bootstrap's own is kept as it is."""
    rng = np.random.default_rng(3)
    n = 200
    treated = rng.random(n) < 0.02  # the logging policy all but never treats; the target always does
    arm = treated.astype(int)
    reward = np.where(treated, 0.0, (rng.random(n) < 0.3).astype(float))
    propensity = np.where(treated, 0.02, 0.98)
    q = np.tile([0.3, 0.9], (n, 1))
    mu = np.tile([0.98, 0.02], (n, 1))
    pi = np.tile([0.0, 1.0], (n, 1))
    est = doubly_robust(arm, reward, propensity, pi, q, [0, 1], logging_probs=mu, n_bootstrap=300, seed=1)
    assert est.bootstrap_low < 0.0  # the resampled estimate leaves the range
    assert min(0.0, est.value) <= est.low <= est.value <= est.high <= max(1.0, est.value)
    assert est.low == min(0.0, est.value)


def test_where_the_log_supports_the_target_the_design_interval_matches_the_bootstrap() -> None:
    rng = np.random.default_rng(5)
    n = 6000
    x = rng.uniform(size=n)
    treated = rng.random(n) < 0.5
    reward = (rng.random(n) < np.where(treated, 0.3 + 0.2 * x, 0.2)).astype(float)
    q = np.column_stack([np.full(n, 0.2), 0.3 + 0.2 * x])
    pi = np.column_stack([x <= 0.5, x > 0.5]).astype(float)
    mu = np.full((n, 2), 0.5)
    args = (treated.astype(int), reward, np.full(n, 0.5), pi, q, [0, 1])
    alone = doubly_robust(*args, n_bootstrap=400, seed=1)
    design = doubly_robust(*args, logging_probs=mu, n_bootstrap=400, seed=1)
    assert (design.high - design.low) < 1.2 * (alone.high - alone.low)
    assert not any("bootstrap of the logged rows alone" in w for w in design.warnings)


def test_logging_probs_must_agree_with_the_log() -> None:
    d = _near_deterministic_log(0, n=50)
    pi = np.tile([0.0, 1.0], (50, 1))
    base = (d["arm"], d["reward"], d["propensity"], pi, d["q"], [0, 1])
    with pytest.raises(ValueError, match="logging_probs: the logged arm's column must equal its propensity"):
        doubly_robust(*base, logging_probs=d["mu"][:, ::-1], n_bootstrap=2)
    with pytest.raises(ValueError, match=r"logging_probs: must have shape \(rows, arms\)"):
        doubly_robust(*base, logging_probs=d["mu"][:10], n_bootstrap=2)
    with pytest.raises(ValueError, match="logging_probs: each row must sum to 1"):
        doubly_robust(*base, logging_probs=d["mu"] * 0.5, n_bootstrap=2)


def test_evaluate_log_gives_dr_the_logging_policy_of_both_arms() -> None:
    import pandas as pd

    d = _near_deterministic_log(0)  # a log that drew none of the rare treatments
    frame = pd.DataFrame(
        {
            "arm": np.where(d["arm"] == 1, "treatment", "control"),
            "propensity": d["propensity"],
            "reward": d["reward"],
        }
    )
    data = logged_from_frame(frame, "control", "test")
    reports = evaluate_log(data, [("v1", d["q"])], value=1.0, cost=0.0, n_bootstrap=200, level=0.95, seed=0)
    treat_all = next(r for r in reports if r.policy == "treat-all")
    dr = next(e for e in treat_all.estimates if e.estimator == "dr")
    assert dr.low <= TREAT_ALL_VALUE <= dr.high
    assert any("bootstrap of the logged rows alone" in w for w in dr.warnings)
