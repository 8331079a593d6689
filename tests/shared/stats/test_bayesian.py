"""Bayesian results against closed forms (Evan Miller's P(B > A), Normal algebra) and seeded Monte Carlo."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import betaln

from shared.stats import ContinuousVariant, ConversionVariant, bayesian_compare
from shared.stats.bayesian import lift_intervals, normal_expected_loss, normal_prob_best

MC_SEED = 20261124


def miller_prob_b_beats_a(a_a, b_a, a_b, b_b):
    """Evan Miller's closed form for P(θ_B > θ_A), a finite sum for integer alpha_B."""
    i = np.arange(int(a_b))
    terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(np.sum(np.exp(terms)))


@pytest.mark.parametrize(
    ("n_a", "c_a", "n_b", "c_b"), [(1000, 100, 1000, 120), (80, 3, 90, 9), (20000, 210, 20500, 260)]
)
def test_prob_beats_control_matches_evan_miller(n_a, c_a, n_b, c_b):
    res = bayesian_compare([ConversionVariant("A", n_a, c_a), ConversionVariant("B", n_b, c_b)])
    expected = miller_prob_b_beats_a(1 + c_a, 1 + n_a - c_a, 1 + c_b, 1 + n_b - c_b)
    assert res.lifts[0].prob_beats_control == pytest.approx(expected, abs=1e-6)
    assert res.variants[1].prob_best == pytest.approx(expected, abs=1e-6)


def test_beta_lift_intervals_match_seeded_monte_carlo():
    res = bayesian_compare([ConversionVariant("A", 1000, 100), ConversionVariant("B", 1000, 120)], level=0.9)
    rng = np.random.default_rng(MC_SEED)
    a, b = rng.beta(101, 901, 2_000_000), rng.beta(121, 881, 2_000_000)
    lift = res.lifts[0]
    assert (lift.absolute.low, lift.absolute.high) == pytest.approx(
        tuple(np.quantile(b - a, [0.05, 0.95])), abs=3e-4
    )
    assert lift.absolute.estimate == pytest.approx(121 / 1002 - 101 / 1002, abs=1e-12)
    q = np.quantile(b / a - 1, [0.5, 0.05, 0.95])
    assert (lift.relative.estimate, lift.relative.low, lift.relative.high) == pytest.approx(
        tuple(q), abs=3e-3
    )
    loss = np.maximum(b - a, 0).mean(), np.maximum(a - b, 0).mean()
    assert [v.expected_loss for v in res.variants] == pytest.approx(list(loss), abs=1e-4)


def test_normal_pair_closed_forms():
    c, t = stats.norm(1.0, 0.1), stats.norm(1.15, 0.12)
    s = np.hypot(0.1, 0.12)
    m = 0.15
    assert normal_prob_best([c, t])[1] == pytest.approx(stats.norm.cdf(m / s), abs=1e-6)
    # E[(X)+] for X ~ N(m, s²) is m Φ(m/s) + s φ(m/s): the loss of choosing the control.
    loss_c = m * stats.norm.cdf(m / s) + s * stats.norm.pdf(m / s)
    assert normal_expected_loss([c, t]) == pytest.approx([loss_c, loss_c - m], abs=1e-7)
    absolute, relative = lift_intervals(c, t, 0.95)
    z = stats.norm.ppf(0.975)
    assert (absolute.low, absolute.high) == pytest.approx((m - z * s, m + z * s), abs=1e-9)
    assert relative is not None


def test_relative_lift_is_none_when_control_mean_may_be_negative():
    absolute, relative = lift_intervals(stats.norm(0.01, 0.5), stats.norm(0.2, 0.5))
    assert relative is None and absolute.low < 0 < absolute.high


def test_three_normal_arms_match_monte_carlo():
    rng = np.random.default_rng(MC_SEED)
    vs = [
        ContinuousVariant.from_values(n, rng.normal(mu, 3.0, 2000))
        for n, mu in (("A", 5.0), ("B", 5.15), ("C", 5.2))
    ]
    res = bayesian_compare(vs)
    draws = np.column_stack([rng.normal(v.mean, np.sqrt(v.variance / v.users), 1_000_000) for v in vs])
    mc_best = np.bincount(draws.argmax(axis=1), minlength=3) / draws.shape[0]
    mc_loss = (draws.max(axis=1)[:, None] - draws).mean(axis=0)
    assert [p.prob_best for p in res.variants] == pytest.approx(mc_best.tolist(), abs=3e-3)
    assert [p.expected_loss for p in res.variants] == pytest.approx(mc_loss.tolist(), abs=1e-3)
    assert sum(p.prob_best for p in res.variants) == pytest.approx(1.0, abs=1e-9)


def test_zero_variance_and_zero_conversions_stay_finite():
    flat = bayesian_compare([ContinuousVariant("A", 10, 0.0, 0.0), ContinuousVariant("B", 10, 0.0, 0.0)])
    assert flat.note and "no variation" in flat.note
    assert all(np.isfinite([p.prob_best, p.expected_loss, *p.ci]).all() for p in flat.variants)
    zero = bayesian_compare([ConversionVariant("A", 50, 0), ConversionVariant("B", 50, 0)])
    assert zero.lifts[0].prob_beats_control == pytest.approx(0.5, abs=1e-6)
    assert zero.lifts[0].relative is not None and np.isfinite(zero.lifts[0].relative.high)


def test_posteriors_are_stated_in_numbers():
    binary = bayesian_compare([ConversionVariant("A", 1000, 120), ConversionVariant("B", 1000, 150)], "A")
    assert [(v.family, v.params) for v in binary.variants] == [
        ("beta", {"alpha": 121.0, "beta": 881.0}),
        ("beta", {"alpha": 151.0, "beta": 851.0}),
    ]
    assert binary.variants[0].distribution == "Beta(121, 881)"
    # Normal posterior of the mean: sd = sample sd / sqrt(n).
    a = ContinuousVariant("A", 400, 2000.0, 2000.0 * 5.0 + 399 * 4.0)  # mean 5, variance 4
    b = ContinuousVariant("B", 400, 2100.0, 2100.0 * 5.25 + 399 * 4.0)
    post = bayesian_compare([a, b], "A").variants[0]
    assert post.family == "normal"
    assert post.params["mean"] == pytest.approx(5.0)
    assert post.params["sd"] == pytest.approx(2.0 / np.sqrt(400), rel=1e-6)
