"""The probability of being assigned an arm rather than control: design shares, a known design, or estimated.

Effects are learned pairwise (one treatment arm against control on the rows of those two arms), so the
propensity that matters is e(x) = P(arm | x, arm or control).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shared.estimators.crossfit import FitFn, cross_predict

Propensity = str | Mapping[Any, float]

# Estimated propensities are clipped so that 1/e and 1/(1-e) stay below 100: a row the classifier
# calls certain would otherwise carry an unbounded weight in the DR, R and class-transformation losses.
CLIP = (0.01, 0.99)
_NAMED = ("shares", "estimate")


def check_propensity(propensity: Propensity, arms: Sequence[Any]) -> None:
    """Refuse an unknown name or a design mapping that misses an arm or is not a probability."""
    if isinstance(propensity, str):
        if propensity not in _NAMED:
            raise ValueError(
                f"propensity: must be 'shares', 'estimate' or a mapping {{arm: probability}}, "
                f"got {propensity!r}"
            )
        return
    if not isinstance(propensity, Mapping):
        raise ValueError(
            f"propensity: must be 'shares', 'estimate' or a mapping, got {type(propensity).__name__}"
        )
    missing = [a for a in arms if a not in propensity]
    if missing:
        raise ValueError(
            f"propensity: the mapping has no probability for arm(s) {missing}; it must cover {list(arms)}"
        )
    extra = [a for a in propensity if a not in arms]
    if extra:
        raise ValueError(f"propensity: arm(s) {extra} do not occur in treatment; arms seen: {list(arms)}")
    for arm, p in propensity.items():
        if not isinstance(p, int | float | np.floating) or not 0.0 < float(p) < 1.0:
            raise ValueError(f"propensity: the probability of arm {arm!r} must be in (0, 1), got {p!r}")
    total = float(sum(propensity.values()))
    # A design's probabilities sum to one; the tolerance admits rounded shares such as 0.33 x 3.
    if abs(total - 1.0) > 0.01:
        raise ValueError(f"propensity: the probabilities must sum to 1, got {total:.4f}")


def pair_propensity(
    propensity: Propensity,
    X: np.ndarray,
    treated: np.ndarray,
    arm: Any,
    control: Any,
    *,
    folds: np.ndarray,
    fit_classifier: FitFn,
) -> np.ndarray:
    """e(x) on the rows of one (arm, control) pair; ``treated`` is 1 on the arm's rows, 0 on control's.

    "shares": the arm's share of the pair's rows (the design of a randomized experiment);
    a mapping: p[arm] / (p[arm] + p[control]); "estimate": a cross-fitted classifier of ``treated`` on X
    (``fit_classifier`` returns a binary:logistic booster), clipped to [0.01, 0.99].
    """
    t = treated.astype(np.float64)
    if isinstance(propensity, Mapping):
        p_arm, p_control = float(propensity[arm]), float(propensity[control])
        return np.full(len(t), p_arm / (p_arm + p_control))
    if propensity == "shares":
        return np.full(len(t), t.mean())
    e = cross_predict(X, t, folds, fit_classifier, what=f"the propensity model of arm {arm!r}")
    return np.clip(e, *CLIP)


def clipped_share(e: np.ndarray) -> float:
    """Share of rows whose estimated propensity sits on a clip bound (reported so clipping is visible)."""
    return float(np.mean((e <= CLIP[0]) | (e >= CLIP[1])))
