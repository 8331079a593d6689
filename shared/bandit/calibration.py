"""What feedback says about the model, per (segment, arm): residual sums → the decision's calibration.

A residual is reward − the outcome the model predicted for that user under the arm the user got.
Their mean per arm says how far the model sits from what happens in this segment; the decision
adds the treatment arm's mean residual minus control's (``per_user.calibration_posterior``) to
every sampled effect, so the policy still learns where the model is wrong for a group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.bandit.per_user import Calibration, calibration_posterior
from shared.bandit.store import ArmFeedback, Feedback

# Before residuals say otherwise, the noise of a 0/1 outcome around its prediction is taken at its
# largest (a Bernoulli's variance is at most 1/4), worth this many observations.
PRIOR_NOISE_VAR = 0.25
PRIOR_NOISE_WEIGHT = 2.0
_Z95 = 1.959963984540054


def noise_variance(f: ArmFeedback) -> float:
    """The residuals' variance, shrunk towards ``PRIOR_NOISE_VAR`` while they are few."""
    if f.n == 0:
        return PRIOR_NOISE_VAR
    within = max(f.residual_sq - f.residual_sum * f.residual_sum / f.n, 0.0)
    return (within + PRIOR_NOISE_WEIGHT * PRIOR_NOISE_VAR) / (f.n - 1 + PRIOR_NOISE_WEIGHT)


_NONE = ArmFeedback(0, 0)


@dataclass(frozen=True)
class SegmentCalibration:
    """The decision's calibration in one segment, as arrays (numpy path) and floats (one-user path)."""

    calibration: Calibration
    mean: tuple[float, ...]  # per treatment arm
    sd: tuple[float, ...]


def segment_calibration(
    feedback: Feedback, segment: str, arms: Sequence[str], prior_sd: float
) -> SegmentCalibration:
    """The shift per treatment arm of ``segment`` (arms control first) from its arms' residuals."""
    stats = [feedback.get((segment, a), _NONE) for a in arms]
    n = np.array([f.n for f in stats], dtype=np.float64)
    sums = np.array([f.residual_sum for f in stats])
    noise = np.array([noise_variance(f) for f in stats])
    mean, sd = calibration_posterior(n, sums, noise, prior_sd)
    return SegmentCalibration(Calibration(mean, sd), tuple(mean.tolist()), tuple(sd.tolist()))


@dataclass(frozen=True)
class ArmCalibration:
    """For /bandit: observed − predicted outcome of one (segment, arm), with a 95% interval."""

    n: int
    observed_minus_predicted: float | None
    ci_low: float | None
    ci_high: float | None


def arm_calibration(f: ArmFeedback) -> ArmCalibration:
    """The residuals' mean and a normal 95% interval (None without residuals)."""
    if f.n == 0:
        return ArmCalibration(0, None, None, None)
    mean = f.residual_sum / f.n
    half = _Z95 * math.sqrt(noise_variance(f) / f.n)
    return ArmCalibration(f.n, mean, mean - half, mean + half)
