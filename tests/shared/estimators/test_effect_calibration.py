"""The effect calibration recovers a known compression, leaves calibrated effects alone, and refuses bad input."""

import numpy as np
import pytest

from shared.estimators.effect_calibration import Z_95, blp_fit, calibrate_arm


def _pseudo(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True effects and unbiased, noisy pseudo-outcomes of them (sd 1, as a 0/1 outcome's AIPW terms)."""
    rng = np.random.default_rng(seed)
    tau = rng.normal(0.03, 0.1, n)
    return tau, tau + rng.normal(0.0, 1.0, n)


def test_recovers_a_known_compression_and_applies_it() -> None:
    tau, phi = _pseudo(100_000, 0)
    compressed = tau.mean() + (tau - tau.mean()) / 1.5  # 1/1.5 of the truth's spread, the same average
    cal = calibrate_arm("1", phi, compressed)
    assert cal.slope == pytest.approx(1.5, abs=4 * cal.slope_se)
    assert cal.applied and cal.z > Z_95 and "differs" in cal.reason
    intercept, slope = cal.map
    np.testing.assert_allclose(intercept + slope * compressed, tau, atol=0.02)
    # The level stays the model's own average effect.
    assert (intercept + slope * compressed).mean() == pytest.approx(compressed.mean())


def test_leaves_effects_on_the_right_scale_alone() -> None:
    tau, phi = _pseudo(100_000, 1)
    cal = calibrate_arm("1", phi, tau)
    assert abs(cal.slope - 1.0) < 3 * cal.slope_se
    assert not cal.applied and cal.map == (0.0, 1.0) and "noise" in cal.reason


def test_effects_that_do_not_rise_with_the_outcomes_are_left_as_fitted() -> None:
    tau, phi = _pseudo(100_000, 2)
    cal = calibrate_arm("1", phi, -tau)
    assert cal.slope < 0 and not cal.applied and "slope ≤ 0" in cal.reason


def test_few_rows_or_constant_effects_are_not_calibrated() -> None:
    tau, phi = _pseudo(100, 3)
    assert not calibrate_arm("1", phi, tau).applied
    tau, phi = _pseudo(1000, 3)
    assert calibrate_arm("1", phi, np.zeros(1000)).reason == "the effects are constant"


def test_hc0_standard_error_matches_the_sampling_spread() -> None:
    slopes, ses = [], []
    for seed in range(40):
        tau, phi = _pseudo(5000, 100 + seed)
        coef, cov = blp_fit(phi, tau)
        slopes.append(coef[1])
        ses.append(np.sqrt(cov[1, 1]))
    assert np.std(slopes) == pytest.approx(np.mean(ses), rel=0.3)


def test_bad_input_names_the_fields() -> None:
    with pytest.raises(ValueError, match="phi, tau: must be 1-D of one length"):
        blp_fit(np.zeros(300), np.zeros(299))
    with pytest.raises(ValueError, match="phi, tau: must be finite"):
        blp_fit(np.full(300, np.nan), np.arange(300.0))
