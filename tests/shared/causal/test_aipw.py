"""AIPW recovers a known average effect under confounding, where the naive difference does not."""

import numpy as np
import pytest

from shared.causal.aipw import aipw_effect, naive_difference
from tests.shared.causal.conftest import CONFIG, Confounded


@pytest.mark.parametrize("case", ["continuous_case", "binary_case"])
def test_aipw_covers_the_truth_and_the_naive_difference_is_biased(case: str, request) -> None:  # type: ignore[no-untyped-def]
    d: Confounded = request.getfixturevalue(case)
    kind = "continuous" if case == "continuous_case" else "binary"
    effect = aipw_effect(d.X, d.treated, d.y, outcome_kind=kind, config=CONFIG)
    naive = naive_difference(d.treated, d.y)
    assert effect.covers(d.truth), (effect.to_dict(), d.truth)
    assert not naive.covers(d.truth)
    # Treated users would have done better anyway: the naive difference overstates the effect.
    assert naive.value > effect.high
    assert effect.n == len(d.y) and effect.se > 0


def test_aipw_with_known_numbers_equals_the_mean_of_dr_scores() -> None:
    """The estimate is the mean of psi1 - psi0 and the means are those of psi1 and psi0 (linear check)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 2))
    t = (rng.random(2000) < 0.5).astype(int)
    y = 3.0 + 2.0 * t + X[:, 0] + 0.1 * rng.standard_normal(2000)
    effect = aipw_effect(X, t, y, outcome_kind="continuous", config=CONFIG)
    assert effect.value == pytest.approx(2.0, abs=0.05)
    assert effect.mean_control == pytest.approx(3.0 + X[:, 0].mean(), abs=0.05)
    assert effect.se_log_ratio is not None


def test_one_arm_only_is_refused() -> None:
    X = np.zeros((10, 1))
    with pytest.raises(ValueError, match="treated:"):
        aipw_effect(X, np.ones(10), np.zeros(10), outcome_kind="continuous", config=CONFIG)
