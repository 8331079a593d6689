"""The part of a DR estimate's sampling variance that a bootstrap of the log cannot see.

A bootstrap resamples the rows that were logged. Where the logging policy gave the target's arm a
tiny probability μ, the importance-weighted correction π/μ × (r − q) almost never fires, so the log
holds next to no such term: resampled, the estimate looks like the direct method's alone, as precise
as the log is large, even though it carries the direct method's error there. Over the logging
policy's own draws that correction has variance π(a)²/μ(a) × E[(r − q_a)² | x, a] per row, and
when the logging probability of every arm is known (two arms: the logged one and its complement)
it can be computed for every row, drawn or not.

So one row's DR term D has variance Var_x(Σ_a π_a m_a) + E_x[Σ_a π_a²/μ_a E[(r − q_a)² | x, a]
− (Σ_a π_a (m_a − q_a))²], with m_a the true mean reward. The plug-in here puts q for m in the
first part and the reward's variance given the arm (q(1 − q) for 0/1 rewards, else each arm's mean
squared residual) for E[(r − q)²], and drops the subtracted square: an upper bound when q is right.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["WIDENED_RATIO", "design_interval", "row_variance", "within_rewards"]

# A warning quotes the bootstrap's interval when the final one is over this many times as wide: below
# it the two are the same interval up to the normal approximation and resampling noise.
WIDENED_RATIO = 1.5


def _reward_variance(q: np.ndarray, reward: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """E[(r − q_a)² | x, a] per row and arm: q(1 − q) for 0/1 rewards, else each arm's mean squared residual."""
    if np.all((reward == 0.0) | (reward == 1.0)):
        p = np.clip(q, 0.0, 1.0)
        return p * (1.0 - p)
    residual = (reward - q[np.arange(len(cols)), cols]) ** 2
    pooled = float(residual.mean())
    per_arm = [float(residual[cols == a].mean()) if np.any(cols == a) else pooled for a in range(q.shape[1])]
    return np.tile(per_arm, (len(cols), 1))


def row_variance(
    target_probs: np.ndarray,
    logging_probs: np.ndarray,
    q: np.ndarray,
    reward: np.ndarray,
    cols: np.ndarray,
) -> float:
    """The plug-in variance of one row's DR term (module docstring); inf when the target puts weight on
    an arm the logging policy never gives (the log then says nothing there, at any sample size)."""
    direct = (target_probs * q).sum(axis=1)
    reach = target_probs > 0.0
    if np.any(reach & (logging_probs <= 0.0)):
        return float("inf")
    safe = np.where(reach, logging_probs, 1.0)
    correction = np.where(reach, target_probs**2 / safe, 0.0) * _reward_variance(q, reward, cols)
    return float(direct.var() + correction.sum(axis=1).mean())


def within_rewards(low: float, high: float, value: float, reward: np.ndarray) -> tuple[float, float]:
    """``[low, high]`` cut to the rewards' range: a policy's mean reward cannot leave it (the estimate
    itself may, a DR estimate being unbounded, and then stays inside its own interval)."""
    floor, ceiling = min(float(reward.min()), value), max(float(reward.max()), value)
    return max(low, floor), min(high, ceiling)


def design_interval(
    value: float, variance: float, n: int, level: float, reward: np.ndarray
) -> tuple[float, float]:
    """The normal interval of the estimate from the design variance, kept inside the rewards' range;
    the whole range when the variance is infinite (the target uses an arm the log could never give)."""
    if not np.isfinite(variance):
        return within_rewards(-np.inf, np.inf, value, reward)
    half = float(norm.ppf(0.5 + level / 2.0)) * float(np.sqrt(variance / n))
    return within_rewards(value - half, value + half, value, reward)
