"""From raw rows (one per user: variant, metric value, optional pre-period covariates) to the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shared.stats.cuped import cuped
from shared.stats.inputs import ContinuousVariant, ConversionVariant, Variant
from shared.stats.report import DecisionReport, analyze


def infer_metric_type(values: np.ndarray) -> str:
    """'binary' when every value is 0 or 1, else 'continuous'."""
    return "binary" if np.isin(values, (0.0, 1.0)).all() else "continuous"


def summarize(
    labels: np.ndarray | Sequence[str], values: np.ndarray | Sequence[float], metric_type: str | None = None
) -> list[Variant]:
    """Per-variant sufficient statistics, variants in order of first appearance."""
    lab = np.asarray(labels).astype(str)
    y = np.asarray(values, dtype=np.float64)
    if lab.ndim != 1 or y.shape != lab.shape:
        raise ValueError(
            f"value: need one per row, got {y.shape[0] if y.ndim else 0} values for {lab.size} rows"
        )
    if lab.size == 0:
        raise ValueError("rows: need at least one row")
    if not np.all(np.isfinite(y)):
        raise ValueError(
            f"value: must be a finite number in every row ({int((~np.isfinite(y)).sum())} are not)"
        )
    kind = metric_type or infer_metric_type(y)
    if kind not in ("binary", "continuous"):
        raise ValueError(f"metric_type: must be 'binary' or 'continuous', got {kind!r}")
    if kind == "binary" and not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("value: a binary metric must be 0 or 1 in every row")
    names = list(dict.fromkeys(lab.tolist()))
    if kind == "binary":
        return [ConversionVariant(n, int((lab == n).sum()), int(y[lab == n].sum())) for n in names]
    return [ContinuousVariant.from_values(n, y[lab == n]) for n in names]


def analyze_rows(
    labels: np.ndarray | Sequence[str],
    values: np.ndarray | Sequence[float],
    *,
    metric_type: str | None = None,
    pre: np.ndarray | None = None,
    covariates: Sequence[str] = ("pre",),
    control: str | None = None,
    allocation: Mapping[str, float] | None = None,
    **options: Any,
) -> DecisionReport:
    """The decision report from raw rows; CUPED-adjusted as well when ``pre`` covariates are given."""
    variants = summarize(labels, values, metric_type)
    if allocation is not None:
        # A planned arm with no rows is a zero-user variant, which the report refuses by name.
        seen = {v.name for v in variants}
        for name in allocation:
            if name not in seen:
                raise ValueError(f"{name}.users: the allocation plans this variant but no row has it")
    adjusted = None
    if pre is not None:
        adjusted = cuped(labels, values, pre, covariates, order=[v.name for v in variants])
    return analyze(variants, control=control, allocation=allocation, cuped=adjusted, **options)


__all__ = ["analyze_rows", "infer_metric_type", "summarize"]
