"""The policy benchmark's expected-value arithmetic, on cases small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tests.loadtests.policy_loader import (
    by_fifths,
    choose_settings,
    compare,
    logged_truth,
    random_value,
    value_of,
)

CATE = np.array([0.30, 0.10, 0.0, -0.20, 0.05])


def test_value_of_counts_effects_and_costs_of_the_treated_only() -> None:
    row = value_of(np.array([True, True, False, True, False]), CATE, value=10.0, cost=1.0)
    # 0.3 + 0.1 − 0.2 = 0.2 conversions, 3 treatments.
    assert row == {
        "incremental_conversions": 0.2,
        "treated": 3,
        "treated_share": 0.6,
        "cost": 3.0,
        "profit": -1.0,
    }


def test_random_is_the_expectation_over_the_coin() -> None:
    row = random_value(0.4, CATE, value=10.0, cost=1.0)
    assert row["incremental_conversions"] == pytest.approx(0.4 * 0.25)
    assert row["treated"] == pytest.approx(2.0) and row["profit"] == pytest.approx(1.0 - 2.0)


def test_compare_thresholds_truth_and_model_at_cost_over_value() -> None:
    model = np.array([0.05, 0.40, 0.20, -0.1, 0.5])  # wrong about users 0, 2 and 4
    served = np.array([True, False, False, False, False])
    out = compare(served, model, CATE, value=10.0, cost=0.8)
    pol = out["policies"]
    # Oracle: effect × 10 > 0.8 → users 0 and 1 (0.05 × 10 = 0.5 does not pay).
    assert pol["oracle"]["treated"] == 2 and pol["oracle"]["profit"] == pytest.approx(4.0 - 1.6)
    # Greedy on the model: users 1, 2, 4 → 0.15 conversions, 3 treatments.
    assert pol["greedy"]["profit"] == pytest.approx(1.5 - 2.4)
    assert pol["served"]["profit"] == pytest.approx(3.0 - 0.8)
    assert out["served_over_oracle"] == pytest.approx(2.2 / 2.4, abs=1e-4)
    assert out["served_over_greedy"] is None  # greedy loses money: no ratio to speak of
    assert all(row["profit"] <= pol["oracle"]["profit"] for row in pol.values())


def test_fifths_split_the_stream_in_order() -> None:
    n = 23
    rng = np.random.default_rng(0)
    cate, model = rng.normal(0, 0.1, n), rng.normal(0, 0.1, n)
    served = rng.random(n) < 0.5
    parts = by_fifths(served, model, cate, 10.0, 0.2)
    assert [p["users"] for p in parts] == [4, 5, 4, 5, 5]
    total = sum(p["policies"]["served"]["profit"] for p in parts)
    whole = compare(served, model, cate, 10.0, 0.2)["policies"]["served"]["profit"]
    assert total == pytest.approx(whole, abs=1e-3)  # each part is rounded to 4 decimals


def test_settings_come_from_the_effect_quantiles() -> None:
    cate = np.linspace(-0.1, 0.3, 10_001)  # 75% of users helped
    settings = choose_settings(cate, 10.0)
    assert [s["target_share"] for s in settings] == [0.08, 0.24, 0.4]
    for s in settings:
        assert s["oracle_share_training_market"] == pytest.approx(s["target_share"], abs=2e-3)


def test_settings_refuse_a_market_that_helps_too_few() -> None:
    with pytest.raises(ValueError, match="only 5.0% of users gain"):
        choose_settings(np.r_[np.full(95, 0.0), np.full(5, 0.1)], 10.0)


def test_logged_truth_weights_both_arms_by_the_logging_probabilities() -> None:
    arm = ["treated", "control"]
    propensity = np.array([0.8, 0.6])  # user 0 treated w.p. 0.8; user 1 kept in control w.p. 0.6
    p0, p1 = np.array([0.1, 0.2]), np.array([0.3, 0.5])
    expected = ((0.8 * 0.3 + 0.2 * 0.1) + (0.4 * 0.5 + 0.6 * 0.2)) / 2
    assert logged_truth(arm, propensity, p0, p1, "control") == pytest.approx(expected)
