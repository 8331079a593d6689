import math

import numpy as np
import pytest

from shared.bandit.calibration import segment_calibration, user_shift, user_shift_one
from shared.bandit.store import ArmFeedback, ipw_residual


def _feedback(rng: np.random.Generator, n: int, effect_error: float) -> tuple[dict, float]:
    """Rewards of one segment under a policy that treats users by their predicted effect.

    The baseline model over-predicts control outcomes of users with a high predicted effect (the
    ones the policy treats), and the effect is off by ``effect_error`` for everyone. Returns the
    segment's sums as a store keeps them, and the naive treated − control mean residual.
    """
    predicted_effect = rng.uniform(0.0, 0.2, n)
    true_mu0 = rng.uniform(0.1, 0.4, n)
    mu0 = true_mu0 + 0.6 * predicted_effect  # baseline error tied to what the policy selects on
    p_treat = 1.0 / (1.0 + np.exp(-(predicted_effect - 0.1) * 40))
    treated = rng.random(n) < p_treat
    propensity = np.where(treated, p_treat, 1.0 - p_treat)
    p_true = true_mu0 + np.where(treated, predicted_effect + effect_error, 0.0)
    reward = (rng.random(n) < p_true).astype(float)
    residual = reward - (mu0 + np.where(treated, predicted_effect, 0.0))
    fb = {}
    for arm, mask in (("0", ~treated), ("1", treated)):
        r, w = (
            residual[mask],
            np.array([ipw_residual(x, p) for x, p in zip(residual[mask], propensity[mask], strict=True)]),
        )
        fb[("seg", arm)] = ArmFeedback(
            0, 0, int(mask.sum()), float(r.sum()), float((r**2).sum()), float(w.sum()), float((w**2).sum())
        )
    naive = residual[treated].mean() - residual[~treated].mean()
    return fb, float(naive)


def test_the_weighted_estimate_recovers_the_effect_error_the_naive_one_misses():
    rng = np.random.default_rng(3)
    fb, naive = _feedback(rng, 40_000, effect_error=-0.03)
    cal = segment_calibration(fb, "seg", ["0", "1"])
    se = math.sqrt(cal.var[0])
    assert cal.n == 40_000 and se < 0.01
    assert abs(cal.mean[0] - (-0.03)) < 3 * se
    # Comparing the treated with the untreated reads the baseline's error as an effect error.
    assert abs(naive - (-0.03)) > 6 * se


def test_without_rewards_the_estimate_carries_no_information():
    cal = segment_calibration({}, "seg", ["0", "1", "2"])
    assert cal.n == 0 and cal.mean == (0.0, 0.0) and all(math.isinf(v) for v in cal.var)
    assert cal.sd == (None, None)


def test_the_users_shift_moves_from_its_own_spread_to_the_segments_estimate():
    prior_var = np.array([[0.02**2], [0.0]])
    # No information: the user's own spread, centred on the model.
    none = user_shift(prior_var, np.array([[0.5]]), np.array([[math.inf]]))
    np.testing.assert_allclose(none.mean, [[0.0], [0.0]])
    np.testing.assert_allclose(none.sd, [[0.02], [0.0]])
    # A precise estimate: the shift follows it and the exploration it drives fades.
    sure = user_shift(prior_var, np.array([[-0.03]]), np.array([[1e-8]]))
    assert sure.mean[0, 0] == pytest.approx(-0.03, rel=1e-4) and sure.sd[0, 0] == pytest.approx(
        1e-4, rel=1e-3
    )
    assert sure.mean[1, 0] == 0.0 and sure.sd[1, 0] == 0.0  # no prior spread: the model stands
    # Equal precision: half way, variance halved.
    half = user_shift(prior_var[:1], np.array([[-0.02]]), np.array([[0.02**2]]))
    assert half.mean[0, 0] == pytest.approx(-0.01) and half.sd[0, 0] == pytest.approx(0.02 / math.sqrt(2))
    for var in (math.inf, 1e-8, 0.02**2):
        m, s = user_shift_one(0.02**2, -0.02, var)
        full = user_shift(np.array([[0.02**2]]), np.array([[-0.02]]), np.array([[var]]))
        assert (m, s) == (pytest.approx(full.mean[0, 0]), pytest.approx(full.sd[0, 0]))
