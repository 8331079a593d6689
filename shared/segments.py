"""Segments from effects, and the rule that picks the thresholds from the data.

Two arms: Persuadable above ``upper``, Sleeping Dog below ``lower``, Neutral between.
Several arms: Persuadable if *some* arm's effect clears ``upper`` (there is a treatment worth
giving), Sleeping Dog only if *every* arm's effect is below ``lower`` (any treatment hurts).

Default thresholds (the placebo rule): refit the same learner with the treatment labels shuffled,
so that every effect it reports is noise, and set the Neutral band to ± the 97.5th percentile of
the absolute placebo effects on held-out users. A user is then called Persuadable or Sleeping Dog
only when the model's effect is larger than what this learner invents, at this sample size, for
97.5% of users when there is no effect at all.
"""

from __future__ import annotations

import numpy as np

PERSUADABLE = "Persuadable"
NEUTRAL = "Neutral"
SLEEPING_DOG = "Sleeping Dog"
SEGMENTS = (PERSUADABLE, NEUTRAL, SLEEPING_DOG)
PLACEBO_QUANTILE = 0.975
# Built once: labelling is a fancy index into it, per request on the API's hot path.
_LABELS = np.array(SEGMENTS, dtype=object)
_NEUTRAL, _SLEEPING_DOG, _PERSUADABLE = (SEGMENTS.index(s) for s in (NEUTRAL, SLEEPING_DOG, PERSUADABLE))


def segment_codes(effects: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Index into ``SEGMENTS`` per user (int8), from an (n,) or (n, arms) effect matrix."""
    if lower > upper:
        raise ValueError(f"lower: must not exceed upper ({lower} > {upper})")
    e = np.asarray(effects, dtype=np.float64)
    if e.ndim == 1:
        e = e[:, None]
    if e.ndim != 2:
        raise ValueError(f"effects: must be 1-D or 2-D, got {e.ndim} dimensions")
    out = np.full(len(e), _NEUTRAL, dtype=np.int8)
    out[(e < lower).all(axis=1)] = _SLEEPING_DOG
    out[(e > upper).any(axis=1)] = _PERSUADABLE
    return out


def segment_labels(effects: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """Segment name per user from an (n,) or (n, arms) effect matrix."""
    return _LABELS[segment_codes(effects, lower, upper)]


def placebo_thresholds(
    placebo_effects: np.ndarray, quantile: float = PLACEBO_QUANTILE
) -> tuple[float, float]:
    """(lower, upper) = ∓ the ``quantile`` of |effect| under a placebo (shuffled-treatment) fit."""
    e = np.abs(np.asarray(placebo_effects, dtype=np.float64)).ravel()
    if e.size == 0 or not np.isfinite(e).all():
        raise ValueError("placebo_effects: must be a non-empty array of finite numbers")
    if not 0.5 <= quantile < 1.0:
        raise ValueError(f"quantile: must be in [0.5, 1), got {quantile}")
    h = float(np.quantile(e, quantile))
    return -h, h
