"""CUPED (Deng et al., 2013): remove the part of the metric that pre-period covariates predict.

θ is the OLS slope of the metric on the covariates, fitted on all users pooled (randomization
makes the covariates independent of the arm, so pooling costs no bias). The adjusted metric
Y − (X − X̄)·θ has the same mean difference between arms and a variance smaller by the share R²
that the covariates explain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.stats.inputs import ContinuousVariant


@dataclass(frozen=True)
class CupedResult:
    covariates: list[str]
    theta: list[float]
    variance_reduction: float
    variants: list[ContinuousVariant]
    unadjusted: list[ContinuousVariant]


def _as_matrix(pre: np.ndarray, n: int, names: Sequence[str]) -> np.ndarray:
    x = np.asarray(pre, dtype=np.float64)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    if x.shape != (n, len(names)):
        raise ValueError(f"pre: need one value per row for each covariate {list(names)}, got shape {x.shape}")
    bad = ~np.isfinite(x)
    if bad.any():
        col = names[int(np.argmax(bad.any(axis=0)))]
        raise ValueError(
            f"pre.{col}: must be a finite number in every row ({int(bad.sum())} missing or infinite)"
        )
    return x


def cuped(
    labels: np.ndarray | Sequence[str],
    values: np.ndarray | Sequence[float],
    pre: np.ndarray,
    covariates: Sequence[str] = ("pre",),
    order: Sequence[str] | None = None,
) -> CupedResult:
    """θ by OLS on the pooled rows; per-variant sums of the adjusted metric, in ``order`` (default: first seen)."""
    lab = np.asarray(labels).astype(str)
    y = np.asarray(values, dtype=np.float64)
    if y.shape != lab.shape or y.ndim != 1:
        raise ValueError(f"values: need one per row of labels, got {y.shape} vs {lab.shape}")
    if lab.size < 3:
        raise ValueError(f"rows: CUPED needs at least 3 rows, got {lab.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError("value: must be a finite number in every row")
    x = _as_matrix(pre, y.size, covariates)
    xc = x - x.mean(axis=0)
    theta, *_ = np.linalg.lstsq(xc, y - y.mean(), rcond=None)  # minimum norm if a covariate is constant
    adjusted = y - xc @ theta
    var_y = float(np.var(y, ddof=1))
    reduction = 1.0 - float(np.var(adjusted, ddof=1)) / var_y if var_y > 0 else 0.0
    names = list(order) if order is not None else list(dict.fromkeys(lab.tolist()))
    return CupedResult(
        covariates=list(covariates), theta=[float(t) for t in theta], variance_reduction=reduction,
        variants=[ContinuousVariant.from_values(n, adjusted[lab == n]) for n in names],
        unadjusted=[ContinuousVariant.from_values(n, y[lab == n]) for n in names],
    )  # fmt: skip


__all__ = ["CupedResult", "cuped"]
