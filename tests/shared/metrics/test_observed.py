"""Observed uplift of a targeted group on randomised data: it recovers a planted effect and finds none
where none was planted."""

import numpy as np
import pytest

from shared.metrics.observed import observed_targeting


def _experiment(n, effect_in_group, rng, arms=2):
    """Half the users are in a group whose treatment effect is ``effect_in_group``; others 0."""
    group = rng.random(n) < 0.5
    got = rng.integers(0, arms, size=n)
    base = np.full(n, 0.2)
    p = base + np.where(group & (got > 0), effect_in_group, 0.0)
    y = (rng.random(n) < p).astype(float)
    return y, got, group


def test_recovers_a_planted_effect_in_the_targeted_group():
    rng = np.random.default_rng(11)
    y, got, group = _experiment(40_000, 0.10, rng)
    res = observed_targeting(
        y, got, np.ones(len(y), dtype=int), group, arms=2, value=20.0, cost=1.0, n_boot=200, seed=1
    )
    assert res.uplift.low < 0.10 < res.uplift.high
    assert res.uplift.value == pytest.approx(0.10, abs=0.015)
    # everyone's uplift is half the group's: the group beats random targeting, with a paired interval above 0
    assert res.uplift_everyone.value == pytest.approx(0.05, abs=0.01)
    assert res.uplift_vs_everyone.low > 0
    treated = int(group.sum())
    assert res.treated == treated
    assert res.profit.value == pytest.approx(res.uplift.value * treated * 20.0 - treated * 1.0)
    assert res.profit_random.value == pytest.approx(res.uplift_everyone.value * treated * 20 - treated)
    assert res.profit_treat_all.value == pytest.approx(res.uplift_everyone.value * len(y) * 20 - len(y))
    assert res.seed == 1 and res.n_boot == 200


def test_finds_no_uplift_where_there_is_none():
    rng = np.random.default_rng(12)
    y, got, group = _experiment(20_000, 0.0, rng)
    res = observed_targeting(y, got, np.ones(len(y), dtype=int), group, arms=2, value=20.0, cost=1.0)
    assert res.uplift.low < 0 < res.uplift.high
    assert res.profit_vs_random.low < 0 < res.profit_vs_random.high


def test_multi_arm_pools_each_users_recommended_arm():
    """Arm 2 works (+0.2) in the group, arm 1 never: recommending arm 2 there observes +0.2, arm 1 nothing."""
    rng = np.random.default_rng(13)
    n = 60_000
    group = rng.random(n) < 0.5
    got = rng.integers(0, 3, size=n)
    y = (rng.random(n) < 0.2 + np.where(group & (got == 2), 0.2, 0.0)).astype(float)
    good = observed_targeting(y, got, np.full(n, 2), group, arms=3, value=1.0, cost=0.0, n_boot=100)
    bad = observed_targeting(y, got, np.full(n, 1), group, arms=3, value=1.0, cost=0.0, n_boot=100)
    assert good.uplift.value == pytest.approx(0.2, abs=0.02)
    assert bad.uplift.low < 0 < bad.uplift.high
    mixed = observed_targeting(y, got, np.where(group, 2, 1), group, arms=3, value=1.0, cost=0.0, n_boot=100)
    assert mixed.uplift.value == pytest.approx(0.2, abs=0.02)
    assert mixed.n_treated_arm == int((group & (got == 2)).sum())


def test_nobody_targeted_observes_and_earns_nothing():
    rng = np.random.default_rng(14)
    y, got, _ = _experiment(2_000, 0.1, rng)
    res = observed_targeting(
        y, got, np.ones(len(y), dtype=int), np.zeros(len(y), bool), arms=2, value=5, cost=1
    )
    assert res.treated == 0 and res.profit.value == 0 and res.uplift.value == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"arms": 1}, "arms"),
        ({"recommended": [0, 0, 0]}, "recommended"),
        ({"y": [0.0, np.nan, 1.0]}, "y: must be finite"),
        ({"targeted": [True]}, "same length"),
    ],
)
def test_bad_input_names_the_field(kwargs, message):
    args = {"y": [0.0, 1.0, 1.0], "got": [0, 1, 1], "recommended": [1, 1, 1], "targeted": [True, True, False]}
    arms = kwargs.pop("arms", 2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        observed_targeting(**args, arms=arms, value=1.0, cost=0.0)
