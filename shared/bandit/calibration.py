"""What feedback says about the model, per (segment, arm), and how a decision uses it.

A residual is reward − the outcome the model predicted for that user under the arm the user got.
The decision needs the model's error in the *effect* (treatment arm's outcome − control's) over the
users it decides for. The plain mean residual of the users a policy treated minus that of the users
it did not compares two different groups: the policy chose them by their predicted effect, so the
baseline model's errors differ between them, and that difference read as an effect error (in the
policy replay, loadtests/bench_policy_replay.py, it estimated the Persuadable segment's error at
−0.016 to −0.018 where the truth was −0.009; through the API the policy treated 5.9% of users where
greedy treated 7.4%). Dividing each residual by
the logged propensity of its arm (inverse-propensity weighting) estimates each arm's mean residual
over everyone the policy decided for, so the difference is the segment's effect error: unbiased,
because the propensities are exact.

The decision (``user_shift``) adds to each user's served effect a shift drawn from the normal
posterior of the segment's effect error: prior N(0, sd²) (the API's ``calibration_prior_sd``), the
likelihood the weighted estimate. Before feedback the draw explores within the prior's width around
the cost threshold; as the segment's rewards accumulate the draw follows its estimate and narrows,
so exploration fades where feedback has answered the question, unless the propensities it leaves
are too extreme to estimate from: then the estimate's variance grows, and the exploration with it.
The model's effect-sample members are not drawn per user: one reward says nothing about one user's
own effect, so that draw would explore at the same rate for ever and never learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.bandit.per_user import Calibration
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
    """The segment's effect error per treatment arm: (true − predicted) estimate and its variance.

    ``var`` is infinite while the segment has no rewards (no information, not a zero shift).
    """

    mean: tuple[float, ...]
    var: tuple[float, ...]
    n: int  # rewards with a prediction, over every arm of the segment

    @property
    def sd(self) -> tuple[float | None, ...]:
        return tuple(math.sqrt(v) if math.isfinite(v) else None for v in self.var)


def segment_calibration(feedback: Feedback, segment: str, arms: Sequence[str]) -> SegmentCalibration:
    """The inverse-propensity weighted estimate of the effect error of ``segment`` (arms control first).

    Per decision i, the score for treatment arm a is ψ = [A=a] r_i/π_i − [A=control] r_i/π_i, with r
    the residual and π the logged propensity of the arm given; its mean over the segment's N rewarded
    decisions estimates E[true effect − predicted effect]. The two terms never both apply, so E[ψ²]
    is the two arms' sums of squares over N. The variance is shrunk towards two Bernoulli maxima
    (``PRIOR_NOISE_WEIGHT`` observations' worth) while rewards are few.
    """
    stats = [feedback.get((segment, a), _NONE) for a in arms]
    n = sum(f.n for f in stats)
    if n == 0:
        k = len(arms) - 1
        return SegmentCalibration((0.0,) * k, (math.inf,) * k, 0)
    control = stats[0]
    means, variances = [], []
    for f in stats[1:]:
        mean = (f.ipw_sum - control.ipw_sum) / n
        spread = max((f.ipw_sq + control.ipw_sq) / n - mean * mean, 0.0)
        shrunk = (spread * n + PRIOR_NOISE_WEIGHT * 2 * PRIOR_NOISE_VAR) / (n + PRIOR_NOISE_WEIGHT)
        means.append(mean)
        variances.append(shrunk / n)
    return SegmentCalibration(tuple(means), tuple(variances), n)


def user_shift(prior_var: np.ndarray, mean: np.ndarray, var: np.ndarray) -> Calibration:
    """Per user and treatment arm: the normal posterior of the shift to add to the model's effect.

    Prior N(0, ``prior_var``), likelihood N(``mean``, ``var``) (the segment's estimate; ``var``
    infinite for none). Arrays broadcast to (users, treatment arms).
    """
    prior_var = np.asarray(prior_var, dtype=np.float64)
    known = np.isfinite(var)
    safe_var = np.where(known, var, 1.0)
    total = prior_var + safe_var
    ratio = np.where(known & (total > 0), prior_var / np.where(total > 0, total, 1.0), 0.0)
    post_mean = np.where(known, ratio * mean, 0.0)
    post_var = np.where(known, ratio * safe_var, prior_var)
    return Calibration(np.asarray(post_mean), np.sqrt(np.asarray(post_var)))


def user_shift_one(prior_var: float, mean: float, var: float) -> tuple[float, float]:
    """``user_shift`` for one user and one treatment arm, on floats: (mean, sd)."""
    if not math.isfinite(var):
        return 0.0, math.sqrt(prior_var)
    total = prior_var + var
    if total <= 0.0:
        return 0.0, 0.0
    ratio = prior_var / total
    return ratio * mean, math.sqrt(ratio * var)


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
