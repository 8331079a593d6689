"""CUPED against a table computed by hand, and against statsmodels OLS for several covariates."""

import numpy as np
import pytest
import statsmodels.api as sm

from shared.stats import cuped


def test_cuped_on_a_hand_computed_table():
    # x̄ = 2, ȳ = 3; Σdx·dy = 6, Σdx² = 4 → θ = 1.5; adjusted y = y − 1.5·(x − 2)
    # = [3.5, 3, 3.5, 2.5, 3, 2.5]; var(y) = 10/5 = 2, var(adjusted) = 1/5 = 0.2 → reduction 0.9.
    labels = ["A", "A", "A", "B", "B", "B"]
    y = [2.0, 3.0, 5.0, 1.0, 3.0, 4.0]
    x = np.array([1.0, 2.0, 3.0, 1.0, 2.0, 3.0])
    res = cuped(labels, y, x)
    assert res.theta == pytest.approx([1.5])
    assert res.variance_reduction == pytest.approx(0.9)
    a, b = res.variants
    assert (a.name, a.mean, b.name, b.mean) == ("A", pytest.approx(10 / 3), "B", pytest.approx(8 / 3))
    assert a.variance == pytest.approx(1 / 12)  # [3.5, 3, 3.5] around 10/3
    assert [v.mean for v in res.unadjusted] == pytest.approx([10 / 3, 8 / 3])


def test_cuped_with_two_covariates_matches_ols():
    rng = np.random.default_rng(5)
    n = 3000
    x = rng.normal(size=(n, 2))
    arm = rng.integers(0, 2, n)
    y = 1.0 + 0.3 * arm + x @ np.array([2.0, -1.0]) + rng.normal(size=n)
    res = cuped(np.where(arm == 1, "T", "C"), y, x, covariates=["x1", "x2"], order=["C", "T"])
    ols = sm.OLS(y, sm.add_constant(x)).fit()
    assert res.theta == pytest.approx(ols.params[1:].tolist(), rel=1e-9)
    assert res.variance_reduction == pytest.approx(
        1 - np.var(ols.resid, ddof=1) / np.var(y, ddof=1), rel=1e-9
    )
    effect = res.variants[1].mean - res.variants[0].mean
    assert effect == pytest.approx(0.3, abs=0.1)  # the true effect, recovered with the smaller variance
    assert res.variance_reduction > 0.7


def test_cuped_refuses_missing_covariates():
    with pytest.raises(ValueError, match=r"pre\.history: must be a finite number in every row \(1 missing"):
        cuped(["A", "B", "A"], [1.0, 2.0, 3.0], np.array([1.0, np.nan, 2.0]), covariates=["history"])
    with pytest.raises(ValueError, match=r"pre: need one value per row"):
        cuped(["A", "B", "A"], [1.0, 2.0, 3.0], np.array([1.0, 2.0]))
