"""Per-row weights a learner may be given at fit time: known propensities and scikit-learn's sample_weight.

Rows of a randomized experiment share one design propensity; rows logged by a serving policy each
carry the exact probability the policy gave their arm. ``propensity`` at fit time is, per row, the
probability that this user would get the (one) treatment arm, e(x_i) = P(treatment | x_i), so it is
defined for two-arm data only: with more arms the log holds only the chosen arm's probability, which
does not give the pairwise e(x) = P(arm | x, arm or control) the X/DR/R/CT learners need.

With known propensities, every outcome model of one arm is fitted with inverse-propensity weights
1 / P(own arm | x), so each arm's model represents the whole population rather than the users the
policy happened to send to that arm; learners that use a propensity take these instead of the
design share or an estimate. ``sample_weight`` multiplies every weight (the usual meaning).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["RowWeights", "check_row_weights"]


@dataclass(frozen=True)
class RowWeights:
    """Validated per-row inputs of one fit; either part may be absent."""

    propensity: np.ndarray | None
    sample_weight: np.ndarray | None

    @property
    def any(self) -> bool:
        return self.propensity is not None or self.sample_weight is not None

    def base(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray | None:
        """sample_weight on ``rows`` (None means every row weighs 1)."""
        return None if self.sample_weight is None else self.sample_weight[rows]

    def own_arm_probability(self, treatment: np.ndarray, arms: list[Any]) -> np.ndarray | None:
        """P(the row's own arm | x) per row: e on treatment rows, 1 - e on control rows."""
        if self.propensity is None:
            return None
        return np.where(treatment == arms[0], 1.0 - self.propensity, self.propensity)

    def outcome_weights(self, treatment: np.ndarray, arms: list[Any]) -> np.ndarray | None:
        """Weights of an outcome model: sample_weight / P(own arm | x) (inverse-propensity weighting)."""
        own = self.own_arm_probability(treatment, arms)
        if own is None:
            return self.sample_weight
        inverse = 1.0 / own
        return inverse if self.sample_weight is None else inverse * self.sample_weight

    def pair_propensity(self, pair: np.ndarray) -> np.ndarray | None:
        """e(x) on the rows of the (treatment, control) pair, which with two arms is every row."""
        return None if self.propensity is None else self.propensity[pair]


def _vector(values: Any, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"{name}: must be 1-D with one entry per row of X ({n}), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: must be finite (no NaN or infinity)")
    return arr


def check_row_weights(propensity: Any, sample_weight: Any, n: int, n_arms: int) -> RowWeights:
    """Refuse weights that are not one finite entry per row, negative or all-zero weights, propensities
    outside (0, 1), and per-row propensities for more than two arms."""
    p = None if propensity is None else _vector(propensity, "propensity", n)
    w = None if sample_weight is None else _vector(sample_weight, "sample_weight", n)
    if w is not None and ((w < 0).any() or not (w > 0).any()):
        raise ValueError("sample_weight: must be non-negative with at least one positive weight")
    if p is not None:
        if not ((p > 0.0) & (p < 1.0)).all():
            raise ValueError("propensity: per-row propensities must lie strictly between 0 and 1")
        if n_arms != 2:
            raise ValueError(
                f"propensity: per-row propensities P(treatment | x) need exactly two arms, got {n_arms}"
            )
    return RowWeights(propensity=p, sample_weight=w)
