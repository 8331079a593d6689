"""What held-out data observed for a targeting decision, beside what the model predicted for it.

A model's expected profit is its own prediction. On held-out users of a randomised experiment the
same targeting can be checked: among the users a policy would treat with arm a, compare those who
happened to get arm a with those who got control. That difference (pooled over the recommended arms,
each weighted by its targeted users) is the observed uplift of the targeted group, in the outcome's
unit; times the users treated it is the observed incremental outcome, and with value and cost the
profit it implies. Intervals come from the same Poisson bootstrap as the held-out metrics
(``shared.metrics.bootstrap``); one set of weights serves the targeted group and everyone, so their
difference ("better than random targeting?") gets a paired interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.metrics.bootstrap import MetricInterval, paired_weights

__all__ = ["ObservedTargeting", "observed_targeting"]


@dataclass(frozen=True)
class ObservedTargeting:
    """Observed uplift per treated user (targeted and everyone), and what the policy earns with it."""

    treated: int
    # Held-out users in the targeted group who got their recommended arm / control: the evidence.
    n_treated_arm: int
    n_control: int
    uplift: MetricInterval
    uplift_everyone: MetricInterval
    uplift_vs_everyone: MetricInterval
    incremental: MetricInterval
    profit: MetricInterval
    profit_vs_random: MetricInterval
    # The baselines' observed profit: everyone treated (with their recommended arm), and as many
    # users as the policy at random (who earn everyone's observed uplift).
    profit_treat_all: MetricInterval
    profit_random: MetricInterval
    seed: int
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            out[name] = value.to_dict() if isinstance(value, MetricInterval) else value
        return out


def _pooled_uplift(
    y: np.ndarray, got: np.ndarray, rec: np.ndarray, in_group: np.ndarray, w: np.ndarray, arms: int
) -> np.ndarray:
    """Per resample (rows of ``w``): Σ_a share_a · (mean y | rec=a, got=a − mean y | rec=a, got=control).

    ``got`` and ``rec`` are arm indices (0 = control, 1.. = treatment arms). A recommended arm without
    both sides observed in a resample makes that resample NaN (dropped by the interval).
    """
    total = np.zeros(len(w))
    size = np.zeros(len(w))
    for a in range(1, arms):
        mine = in_group & (rec == a)
        treated, control = mine & (got == a), mine & (got == 0)
        wt, wc = w[:, treated], w[:, control]
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = (wt @ y[treated]) / wt.sum(axis=1) - (wc @ y[control]) / wc.sum(axis=1)
        n_a = w[:, mine].sum(axis=1)
        total += np.where(n_a > 0, diff * n_a, 0.0)
        size += n_a
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / size


def _interval(samples: np.ndarray, level: float) -> MetricInterval:
    """Point = the unweighted resample (row 0); spread and percentile interval from the others."""
    value, rest = float(samples[0]), samples[1:]
    finite = rest[np.isfinite(rest)]
    if not np.isfinite(value) or len(finite) < 2:
        return MetricInterval(value, float("nan"), float("nan"), float("nan"), level)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return MetricInterval(value, float(finite.std(ddof=1)), float(low), float(high), level)


def observed_targeting(
    y: Any,
    got: Any,
    recommended: Any,
    targeted: Any,
    *,
    arms: int,
    value: float,
    cost: float,
    n_boot: int = 400,
    seed: int = 0,
    level: float = 0.9,
) -> ObservedTargeting:
    """Observed uplift of the ``targeted`` users on held-out data, and the profit it implies.

    ``y``: outcome per user; ``got``: the arm index each user was randomised to (0 = control);
    ``recommended``: the arm index the policy would give each user (1..arms-1); ``targeted``: bool
    mask of the users the policy treats. Profit = uplift × treated × value − treated × cost, the
    same formula as the predicted profit (``shared.policy.totals``) with the observed uplift.
    "vs random" compares with treating as many users at random, who earn everyone's observed uplift.
    """
    yv = np.asarray(y, dtype=np.float64)
    gv = np.asarray(got, dtype=np.int64)
    rv = np.asarray(recommended, dtype=np.int64)
    mask = np.asarray(targeted, dtype=bool)
    n = len(yv)
    if n == 0 or not (len(gv) == len(rv) == len(mask) == n):
        raise ValueError("y, got, recommended, targeted: must be non-empty and of the same length")
    if arms < 2:
        raise ValueError(f"arms: must be at least 2, got {arms}")
    if gv.min() < 0 or gv.max() >= arms or rv.min() < 1 or rv.max() >= arms:
        raise ValueError(f"got/recommended: arm indices must be in 0..{arms - 1} (recommended 1..{arms - 1})")
    if not np.isfinite(yv).all():
        raise ValueError("y: must be finite")
    if value <= 0 or cost < 0:
        raise ValueError("value must be positive and cost not negative")
    # Row 0 is the data itself (weights 1): the point values; the rest are the bootstrap resamples.
    w = np.vstack([np.ones((1, n), dtype=np.float32), paired_weights(n, n_boot, seed)])
    everyone = np.ones(n, dtype=bool)
    up = _pooled_uplift(yv, gv, rv, mask, w, arms)
    up_all = _pooled_uplift(yv, gv, rv, everyone, w, arms)
    treated = int(mask.sum())
    # A policy that treats nobody observes nothing and earns nothing: zero, not an undefined mean.
    up_t = up if treated else np.zeros_like(up)
    gain = up_t - up_all if treated else np.zeros_like(up)
    incremental = up_t * treated
    return ObservedTargeting(
        treated=treated,
        n_treated_arm=int((mask & (gv == rv)).sum()),
        n_control=int((mask & (gv == 0)).sum()),
        uplift=_interval(up_t, level),
        uplift_everyone=_interval(up_all, level),
        uplift_vs_everyone=_interval(gain, level),
        incremental=_interval(incremental, level),
        profit=_interval(incremental * value - treated * cost, level),
        profit_vs_random=_interval(gain * treated * value, level),
        profit_treat_all=_interval(up_all * n * value - n * cost, level),
        profit_random=_interval(up_all * treated * value - treated * cost, level),
        seed=seed,
        n_boot=n_boot,
    )
