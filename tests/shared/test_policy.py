"""Budgeted targeting and policy totals, against hand-computed examples."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from shared.policy import budget_mask, evaluate_policy, policy_curve, totals

# Effects of 5 users; value 10 per conversion, cost 1 per treatment → profit 10·e − 1.
EFFECTS = np.array([0.30, -0.05, 0.12, 0.08, 0.02])  # profits 2.0, −1.5, 0.2, −0.2, −0.8


def test_budget_mask_treats_positive_profit_best_first_within_budget():
    assert budget_mask(EFFECTS, 10.0, 1.0, budget=100.0).tolist() == [True, False, True, False, False]
    # A budget for one treatment keeps the most profitable user only.
    assert budget_mask(EFFECTS, 10.0, 1.0, budget=1.5).tolist() == [True, False, False, False, False]
    assert not budget_mask(EFFECTS, 10.0, 1.0, budget=0.0).any()


def test_budget_mask_uses_each_users_best_arm():
    two_arms = np.array([[0.01, 0.20], [0.05, -0.3], [-0.2, -0.1]])
    assert budget_mask(two_arms, 10.0, 0.5, budget=10.0).tolist() == [True, False, False]


def test_totals_and_baselines_hand_computed():
    res = evaluate_policy(EFFECTS, np.array([True, False, True, False, False]), 10.0, 1.0)
    pol, everyone, rand = res["policy"], res["treat_all"], res["random"]
    assert pol.treated == 2 and pol.incremental_conversions == pytest.approx(0.42)
    assert pol.cost == 2.0 and pol.profit == pytest.approx(2.2) and pol.roi == pytest.approx(1.1)
    assert everyone.incremental_conversions == pytest.approx(0.47) and everyone.profit == pytest.approx(-0.3)
    # Random targeting of as many users: their expected effect is the mean effect.
    assert rand.incremental_conversions == pytest.approx(2 * 0.094) and rand.cost == 2.0
    assert totals(0.0, 0, 10.0, 1.0).roi is None  # nothing spent: no ROI, not a division by zero
    assert pol.to_dict() == asdict(pol)


def test_policy_curve_hand_computed():
    curve = policy_curve(EFFECTS, 10.0, 1.0, points=6)
    assert curve["share"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    np.testing.assert_allclose(curve["profit"], [0.0, 2.0, 2.2, 2.0, 1.2, -0.3])
    np.testing.assert_allclose(curve["roi"], [0.0, 2.0, 1.1, 2.0 / 3, 0.3, -0.06])
    np.testing.assert_allclose(curve["random_profit"], [k * (0.94 - 1.0) for k in range(6)])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"effects": np.array([]), "value": 1.0, "cost": 1.0}, "effects: must be a non-empty"),
        ({"effects": np.array([np.nan]), "value": 1.0, "cost": 1.0}, "effects: must be finite"),
        ({"effects": EFFECTS, "value": 0.0, "cost": 1.0}, "value_per_conversion: must be positive"),
        ({"effects": EFFECTS, "value": 1.0, "cost": -1.0}, "cost_per_treatment: must not be negative"),
    ],
)
def test_bad_input_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        policy_curve(**kwargs)
    with pytest.raises(ValueError, match="budget: must not be negative"):
        budget_mask(EFFECTS, 10.0, 1.0, budget=-1.0)
