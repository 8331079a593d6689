"""How far importance weights can be trusted: effective sample size and the warning rules."""

from __future__ import annotations

import numpy as np

__all__ = [
    "MAX_WEIGHT_SHARE",
    "MIN_ESS_SHARE",
    "MIN_PROPENSITY",
    "effective_sample_size",
    "overlap_warnings",
    "weight_warnings",
]

# A logged propensity below this, on a row the target policy could choose, makes a weight over 100.
MIN_PROPENSITY = 0.01
# Fewer effective rows than this share of the log: the estimate rests on a handful of users.
MIN_ESS_SHARE = 0.01
# One row carrying more than this share of the total weight decides the estimate by itself.
MAX_WEIGHT_SHARE = 0.1


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2; 0 when every weight is 0."""
    total_sq = float(np.dot(weights, weights))
    return float(weights.sum()) ** 2 / total_sq if total_sq > 0 else 0.0


def weight_warnings(weights: np.ndarray, propensity: np.ndarray, target_prob: np.ndarray) -> tuple[str, ...]:
    """Plain-language warnings, each stating the rule it broke; empty when the weights look sound."""
    out = []
    n = len(weights)
    supported = target_prob > 0
    if not supported.any():
        out.append("no logged row has an arm the target policy would choose: the log says nothing about it")
        return tuple(out)
    min_p = float(propensity[supported].min())
    if min_p < MIN_PROPENSITY:
        out.append(
            f"smallest logged propensity on a row the target policy could choose is {min_p:.3g} "
            f"(rule: at least {MIN_PROPENSITY})"
        )
    ess = effective_sample_size(weights)
    if ess < MIN_ESS_SHARE * n:
        out.append(f"effective sample size {ess:.1f} is below {MIN_ESS_SHARE:.0%} of the {n} logged rows")
    share = float(weights.max() / weights.sum())
    if share > MAX_WEIGHT_SHARE:
        out.append(
            f"one row carries {share:.0%} of the total importance weight (rule: at most {MAX_WEIGHT_SHARE:.0%})"
        )
    return tuple(out)


def overlap_warnings(
    logged_cols: np.ndarray, propensity: np.ndarray, target_probs: np.ndarray
) -> tuple[str, ...]:
    """A warning when the target policy often chooses what the logging policy almost never did.

    The weight rules above read only the rows whose logged arm the target would choose; a user the
    logging policy all but never treated is invisible to them, and there a DR estimate is its direct
    method's, not the log's. With two arms the logged probability of the other arm is 1 − the logged
    propensity, so the share of the target's choices that the log gave below ``MIN_PROPENSITY`` is
    known; with more arms the log holds only the chosen arm's probability and nothing is said.
    """
    n, k = target_probs.shape
    if k != 2 or n == 0:
        return ()
    logged = np.empty((n, 2))
    rows = np.arange(n)
    logged[rows, logged_cols] = propensity
    logged[rows, 1 - logged_cols] = 1.0 - propensity
    share = float((target_probs * (logged < MIN_PROPENSITY)).sum() / n)
    if share <= MIN_ESS_SHARE:
        return ()
    return (
        f"{share:.0%} of the target policy's choices were given a probability below {MIN_PROPENSITY} by "
        "the logging policy: there the estimate is the direct method's (the model's), not the log's "
        f"(rule: at most {MIN_ESS_SHARE:.0%})",
    )
