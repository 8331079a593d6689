"""Frequentist tests against statsmodels and scipy (independent implementations)."""

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats._delta_method import NonlinearDeltaCov
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from shared.stats import (
    ContinuousVariant,
    ConversionVariant,
    compare_to_control,
    holm,
    two_proportion_ztest,
    welch_ttest,
)


@pytest.mark.parametrize(
    ("n_a", "c_a", "n_b", "c_b"), [(1000, 100, 1000, 130), (5123, 40, 4877, 61), (300, 150, 310, 140)]
)
def test_two_proportion_z_matches_statsmodels(n_a, c_a, n_b, c_b):
    res = two_proportion_ztest(ConversionVariant("A", n_a, c_a), ConversionVariant("B", n_b, c_b), alpha=0.05)
    z, p = proportions_ztest([c_b, c_a], [n_b, n_a])
    assert res.statistic == pytest.approx(z, rel=1e-10)
    assert res.p_value == pytest.approx(p, rel=1e-9)
    lo, hi = confint_proportions_2indep(c_b, n_b, c_a, n_a, method="wald", compare="diff", alpha=0.05)
    assert res.ci_difference == pytest.approx((lo, hi), rel=1e-9)


def _delta_reference(m_c, var_c, m_t, var_t, alpha):
    """statsmodels' generic delta method on r = m_t / m_c − 1 with a diagonal covariance."""
    nl = NonlinearDeltaCov(
        lambda p: np.array([p[1] / p[0] - 1.0]), np.array([m_c, m_t]), np.diag([var_c, var_t])
    )
    return nl.conf_int(alpha=alpha)[0]


def test_relative_lift_ci_is_the_delta_method():
    a, b = ConversionVariant("A", 4000, 400), ConversionVariant("B", 4100, 480)
    res = two_proportion_ztest(a, b, alpha=0.1)
    ref = _delta_reference(a.mean, a.variance / a.users, b.mean, b.variance / b.users, 0.1)
    assert res.relative_lift == pytest.approx(b.mean / a.mean - 1, rel=1e-12)
    assert res.ci_relative_lift == pytest.approx(tuple(ref), rel=1e-6)


def test_welch_matches_scipy_and_statsmodels():
    rng = np.random.default_rng(11)
    x, y = rng.lognormal(0, 1, 800), rng.lognormal(0.1, 1.3, 650)
    a, b = ContinuousVariant.from_values("A", x), ContinuousVariant.from_values("B", y)
    res = welch_ttest(a, b, alpha=0.05)
    ref = stats.ttest_ind(y, x, equal_var=False)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-8)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-7)
    assert res.df == pytest.approx(ref.df, rel=1e-8)
    cm = CompareMeans(DescrStatsW(y), DescrStatsW(x))
    assert res.ci_difference == pytest.approx(cm.tconfint_diff(alpha=0.05, usevar="unequal"), rel=1e-8)
    rel_ref = _delta_reference(x.mean(), x.var(ddof=1) / x.size, y.mean(), y.var(ddof=1) / y.size, 0.05)
    assert res.ci_relative_lift == pytest.approx(tuple(rel_ref), rel=1e-6)


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.2, 0.0001]
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist(), abs=1e-15)
    with pytest.raises(ValueError, match=r"p_values: must lie in \[0, 1\]"):
        holm([0.5, 1.5])


def test_compare_to_control_applies_holm_across_treatments():
    vs = [
        ConversionVariant("ctl", 2000, 200),
        ConversionVariant("t1", 2000, 240),
        ConversionVariant("t2", 2000, 215),
    ]
    comps = compare_to_control(vs, "ctl")
    raw = [c.p_value for c in comps]
    assert [c.variant for c in comps] == ["t1", "t2"]
    assert [c.p_value_holm for c in comps] == pytest.approx(multipletests(raw, method="holm")[1].tolist())


def test_all_zero_conversions_give_numbers_not_nan():
    res = two_proportion_ztest(ConversionVariant("A", 500, 0), ConversionVariant("B", 400, 0))
    assert res.p_value == 1.0 and res.difference == 0.0
    assert res.relative_lift is None and res.ci_relative_lift is None  # no baseline to be relative to
    assert res.note and "no variation" in res.note
    assert all(math.isfinite(x) for x in (res.statistic, *res.ci_difference))


def test_welch_needs_two_users_and_alpha_in_range():
    with pytest.raises(ValueError, match=r"A\.users: Welch's t-test needs at least 2"):
        welch_ttest(ContinuousVariant("A", 1, 2.0, 4.0), ContinuousVariant("B", 5, 5.0, 7.0))
    with pytest.raises(ValueError, match=r"alpha: must be strictly between 0 and 1"):
        two_proportion_ztest(ConversionVariant("A", 5, 1), ConversionVariant("B", 5, 2), alpha=1.0)
