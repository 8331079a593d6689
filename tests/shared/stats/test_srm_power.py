"""Sample-ratio check by hand against chi2, and power / sample size against statsmodels."""

import math

import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from shared.stats import (
    mde_means,
    mde_proportions,
    power_proportions,
    sample_ratio_test,
    sample_size_means,
    sample_size_proportions,
)


def test_srm_is_pearson_chi_square_against_the_plan():
    res = sample_ratio_test({"A": 5100, "B": 4900, "C": 10400}, {"A": 1, "B": 1, "C": 2})
    total = 20400
    expected = [total / 4, total / 4, total / 2]
    chi2 = sum((o - e) ** 2 / e for o, e in zip([5100, 4900, 10400], expected, strict=True))
    assert res.chi2 == pytest.approx(chi2, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(chi2, 2), rel=1e-10)
    assert res.ok and not res.allocation_assumed and res.allocation["C"] == 0.5


def test_srm_flags_a_one_percent_imbalance_in_a_large_test():
    res = sample_ratio_test({"A": 505_000, "B": 495_000})
    assert not res.ok and res.p_value < 0.001 and res.allocation_assumed


@pytest.mark.parametrize(
    ("users", "allocation", "match"),
    [
        ({"A": 10}, None, r"variants: the sample-ratio test needs at least two"),
        ({"A": 0, "B": 0}, None, r"users: the variants hold no users"),
        ({"A": 5, "B": 5}, {"A": 1}, r"allocation: must name exactly the variants"),
        ({"A": 5, "B": 5}, {"A": 1, "B": -1}, r"allocation\.B: must be a finite positive share"),
    ],
)
def test_srm_refuses_degenerate_input(users, allocation, match):
    with pytest.raises(ValueError, match=match):
        sample_ratio_test(users, allocation)


@pytest.mark.parametrize(
    ("p0", "effect", "ratio"), [(0.10, 0.01, 1.0), (0.02, 0.005, 2.0), (0.5, -0.05, 0.5)]
)
def test_sample_size_for_proportions_matches_statsmodels(p0, effect, ratio):
    plan = sample_size_proportions(p0, effect, alpha=0.05, power=0.8, ratio=ratio)
    h = proportion_effectsize(p0 + effect, p0)
    n = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=ratio)
    assert plan.effect_size == pytest.approx(h, rel=1e-12)
    assert plan.n_control == math.ceil(n)
    assert plan.n_treatment == math.ceil(n * ratio)
    assert power_proportions(p0, effect, n, ratio=ratio) == pytest.approx(0.8, abs=1e-9)


def test_mde_inverts_sample_size():
    n = 14_000
    mde = mde_proportions(0.1, n, alpha=0.05, power=0.8)
    h = proportion_effectsize(0.1 + mde, 0.1)
    assert NormalIndPower().power(h, n, alpha=0.05) == pytest.approx(0.8, abs=1e-9)
    d = mde_means(sd=12.0, n_control=n) / 12.0
    assert NormalIndPower().power(d, n, alpha=0.05) == pytest.approx(0.8, abs=1e-9)


def test_sample_size_for_means_matches_statsmodels():
    plan = sample_size_means(effect=0.5, sd=10.0, alpha=0.01, power=0.9)
    n = NormalIndPower().solve_power(effect_size=0.05, alpha=0.01, power=0.9)
    assert plan.n_control == math.ceil(n)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: sample_size_proportions(0.0, 0.01), r"baseline: must be a rate strictly between 0 and 1"),
        (lambda: sample_size_proportions(0.1, 0.0), r"effect: must be a finite non-zero difference"),
        (lambda: sample_size_proportions(0.1, 0.01, power=0.01), r"power: must be in \(alpha, 1\)"),
        (lambda: sample_size_means(1.0, sd=0.0), r"sd: must be finite and positive"),
        (lambda: mde_proportions(0.1, 0), r"n: must be positive"),
    ],
)
def test_power_refuses_degenerate_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
