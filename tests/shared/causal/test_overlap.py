"""Crump trimming against a brute-force minimisation of its variance criterion; ESS and histograms."""

import numpy as np
import pytest

from shared.causal.overlap import (
    HIST_BINS,
    arm_overlap,
    common_support,
    crump_alpha,
    histogram,
    kish_ess,
    overlap_mask,
)


def _brute_force_alpha(e: np.ndarray) -> float:
    """Crump et al.'s criterion E[g | kept] / P(kept), minimised over a fine grid of alpha."""
    g = 1.0 / (e * (1.0 - e))
    grid = np.linspace(0.0, 0.49, 981)
    crit = [g[(e >= a) & (e <= 1 - a)].sum() / ((e >= a) & (e <= 1 - a)).sum() ** 2 for a in grid]
    return float(grid[int(np.argmin(crit))])


def test_good_overlap_trims_nothing() -> None:
    e = np.random.default_rng(0).uniform(0.3, 0.7, 5000)
    assert crump_alpha(e) == 0.0


@pytest.mark.parametrize("scale", [1.5, 2.5, 4.0])
def test_alpha_matches_the_variance_minimising_threshold(scale: float) -> None:
    e = 1.0 / (1.0 + np.exp(-scale * np.random.default_rng(1).standard_normal(20_000)))
    alpha = crump_alpha(e)
    assert alpha > 0.0
    assert alpha == pytest.approx(_brute_force_alpha(e), abs=0.006)


def test_bad_propensities_are_refused() -> None:
    with pytest.raises(ValueError, match="e: propensities"):
        crump_alpha(np.array([0.2, 1.0]))


def test_kish_ess() -> None:
    assert kish_ess(np.ones(50)) == pytest.approx(50.0)
    assert kish_ess(np.array([1000.0, 1.0, 1.0, 1.0])) == pytest.approx(1.006, abs=1e-3)


def test_histogram_counts_every_row_by_arm() -> None:
    rng = np.random.default_rng(2)
    e, treated = rng.random(300), (rng.random(300) < 0.4).astype(int)
    h = histogram(e, treated, "1", "0")
    assert len(h["edges"]) == HIST_BINS + 1
    assert sum(h["1"]) == treated.sum() and sum(h["0"]) == (treated == 0).sum()


def test_multi_arm_mask_keeps_rows_inside_every_arms_bounds() -> None:
    rng = np.random.default_rng(3)
    e = 1.0 / (1.0 + np.exp(-3.0 * rng.standard_normal((4000, 2))))
    pairs = np.ones((4000, 2), dtype=bool)
    treated = (rng.random(4000) < e[:, 0]).astype(int)
    arm_rows = np.column_stack([treated == 1, rng.random(4000) < e[:, 1]])
    keep, alphas = overlap_mask(e, pairs, arm_rows)
    for k in range(2):
        assert alphas[k] == pytest.approx(crump_alpha(e[:, k]))
        assert (e[keep, k] >= alphas[k]).all() and (e[keep, k] <= 1 - alphas[k]).all()
    assert (~keep).sum() > 0
    report = arm_overlap(e[:, 0], treated, keep, "1", "0").to_dict()
    assert report["rows_trimmed"] == int((~keep).sum())
    ess = report["effective_sample_size_after_trimming"]
    # Trimming the extreme propensities removes the largest weights, so the weighted sample is more even.
    assert (
        ess["1"] / treated[keep].sum() > report["effective_sample_size_before_trimming"]["1"] / treated.sum()
    )


def test_separated_arms_leave_no_common_support() -> None:
    """Every propensity equally extreme: Crump keeps all rows, the common support keeps none."""
    rng = np.random.default_rng(4)
    treated = np.repeat([0, 1], 500)
    e = np.where(treated == 1, rng.uniform(0.93, 0.96, 1000), rng.uniform(0.04, 0.07, 1000))
    assert crump_alpha(e) == 0.0
    low, high = common_support(e, treated)
    assert low > high
    keep, _ = overlap_mask(e[:, None], np.ones((1000, 1), dtype=bool), (treated == 1)[:, None])
    assert not keep.any()
