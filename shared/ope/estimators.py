"""Off-policy value of a target policy from a log with exact propensities: IPS, SNIPS and DR.

With logged rows (x_i, a_i, r_i), logging propensity p_i = mu(a_i|x_i) and target probability
pi(a_i|x_i), the importance weight is w_i = pi(a_i|x_i) / p_i and

- IPS   = mean(w_i r_i)                       (unbiased with exact propensities)
- SNIPS = sum(w_i r_i) / sum(w_i)             (consistent, bounded by the rewards, small bias)
- DR    = mean(sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i)))   (Dudik et al. 2011)

where q is a direct method's predicted reward of every arm: DR is unbiased whatever q is (the
propensities are exact) and its variance shrinks as q approaches the truth. These are the round-
reward forms of the Open Bandit Pipeline's IPW, SNIPW and DR estimators without weight clipping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import numpy as np

from shared.ope.bootstrap import ratio_interval
from shared.ope.design import WIDENED_RATIO, design_interval, row_variance, within_rewards
from shared.ope.diagnostics import effective_sample_size, overlap_warnings, weight_warnings
from shared.ope.inputs import (
    arm_columns,
    check_distribution,
    check_logged,
    check_logging_probs,
    check_matrix,
    check_target_prob,
)

__all__ = ["PolicyEstimate", "doubly_robust", "dr_terms", "ips", "snips"]


@dataclass(frozen=True)
class PolicyEstimate:
    """One estimator's value of one target policy, its bootstrap interval and weight diagnostics."""

    estimator: str
    value: float
    low: float
    high: float
    level: float
    n: int
    ess: float
    n_bootstrap: int
    seed: int
    warnings: tuple[str, ...]
    # The percentile bootstrap of the logged rows alone. It is the interval unless DR's design variance
    # widened it, and then it holds only if the direct method is right where the log is silent.
    bootstrap_low: float
    bootstrap_high: float

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out


def _estimate(
    name: str,
    num: np.ndarray,
    den: np.ndarray,
    weights: np.ndarray,
    diagnostics: tuple[np.ndarray, np.ndarray],
    n_bootstrap: int,
    level: float,
    seed: int,
) -> PolicyEstimate:
    low, high = ratio_interval(num, den, n_bootstrap, level, seed)
    return PolicyEstimate(
        estimator=name,
        value=float(num.sum() / den.sum()),
        low=low,
        high=high,
        level=level,
        n=len(num),
        ess=effective_sample_size(weights),
        n_bootstrap=n_bootstrap,
        seed=seed,
        warnings=weight_warnings(weights, *diagnostics),
        bootstrap_low=low,
        bootstrap_high=high,
    )


def ips(
    arm: Any,
    reward: Any,
    propensity: Any,
    target_prob: Any,
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PolicyEstimate:
    """Inverse-propensity estimate of the target policy's mean reward per logged user."""
    arms, r, p = check_logged(arm, reward, propensity)
    t = check_target_prob(target_prob, len(arms))
    w = t / p
    return _estimate("ips", w * r, np.ones_like(w), w, (p, t), n_bootstrap, level, seed)


def snips(
    arm: Any,
    reward: Any,
    propensity: Any,
    target_prob: Any,
    *,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PolicyEstimate:
    """Self-normalized IPS: the importance-weighted mean reward, weights summing to one."""
    arms, r, p = check_logged(arm, reward, propensity)
    t = check_target_prob(target_prob, len(arms))
    w = t / p
    if not (w > 0).any():
        raise ValueError(
            "target_prob: is 0 on every logged row, so the self-normalized estimate has no rows to average"
        )
    return _estimate("snips", w * r, w, w, (p, t), n_bootstrap, level, seed)


class _DRInputs(NamedTuple):
    """DR's inputs, checked once: rewards, logged propensities, target and direct-method matrices, and
    each row's logged arm as a column index."""

    reward: np.ndarray
    propensity: np.ndarray
    target: np.ndarray
    predicted: np.ndarray
    cols: np.ndarray


def _dr_inputs(
    arm: Any, reward: Any, propensity: Any, target_probs: Any, predicted_rewards: Any, arms: Sequence[Any]
) -> _DRInputs:
    logged, r, p = check_logged(arm, reward, propensity)
    n, k = len(logged), len(arms)
    pi = check_matrix(target_probs, "target_probs", n, k)
    q = check_matrix(predicted_rewards, "predicted_rewards", n, k)
    check_distribution(pi, "target_probs")
    return _DRInputs(r, p, pi, q, arm_columns(logged, arms))


def _dr_rows(d: _DRInputs) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    rows = np.arange(len(d.cols))
    t = d.target[rows, d.cols]
    w = t / d.propensity
    terms = (d.target * d.predicted).sum(axis=1) + w * (d.reward - d.predicted[rows, d.cols])
    return terms, w, (d.propensity, t)


def dr_terms(
    arm: Any, reward: Any, propensity: Any, target_probs: Any, predicted_rewards: Any, arms: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Per logged row, the DR term whose mean is the estimate; the importance weights; and the
    (propensity, target probability) pairs the weight diagnostics read. Inputs as ``doubly_robust``."""
    return _dr_rows(_dr_inputs(arm, reward, propensity, target_probs, predicted_rewards, arms))


def doubly_robust(
    arm: Any,
    reward: Any,
    propensity: Any,
    target_probs: Any,
    predicted_rewards: Any,
    arms: Sequence[Any],
    *,
    logging_probs: Any = None,
    n_bootstrap: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> PolicyEstimate:
    """Doubly robust estimate; ``target_probs`` and ``predicted_rewards`` are (rows, arms) with columns
    in the order of ``arms``, the target's probability and the direct method's reward of every arm.

    ``logging_probs`` (the same shape), when the logging policy's probability of every arm is known,
    lets the interval also carry the variance of the corrections the log all but never drew
    (``shared.ope.design``): the interval is then the hull of the bootstrap's and the design's.
    """
    d = _dr_inputs(arm, reward, propensity, target_probs, predicted_rewards, arms)
    terms, w, diagnostics = _dr_rows(d)
    est = _estimate("dr", terms, np.ones_like(w), w, diagnostics, n_bootstrap, level, seed)
    extra = overlap_warnings(d.cols, d.propensity, d.target)
    if logging_probs is not None:
        mu = check_matrix(logging_probs, "logging_probs", len(d.cols), len(arms))
        check_logging_probs(mu, d.cols, d.propensity)
        variance = row_variance(d.target, mu, d.predicted, d.reward, d.cols)
        low, high = design_interval(est.value, variance, len(d.cols), level, d.reward)
        # The hull, cut to the rewards' range: the bootstrap's own interval (kept as bootstrap_low/high)
        # may leave it, resampling an unbounded DR term.
        low, high = within_rewards(min(est.low, low), max(est.high, high), est.value, d.reward)
        if high - low > WIDENED_RATIO * (est.high - est.low):
            extra += (
                f"the interval carries the variance of the corrections the logging policy's draws could "
                f"have made on rows where it rarely gave the target's arm; the bootstrap of the logged rows "
                f"alone (bootstrap_low, bootstrap_high) gave [{est.low:.4g}, {est.high:.4g}], which holds only "
                f"if the direct method is right there (rule: said when over {WIDENED_RATIO}x as wide)",
            )
        est = replace(est, low=low, high=high)
    return replace(est, warnings=est.warnings + extra) if extra else est
