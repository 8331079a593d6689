"""Validation of logged bandit data for the off-policy estimators: errors name the argument and the rule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "arm_columns",
    "check_distribution",
    "check_logged",
    "check_logging_probs",
    "check_matrix",
    "check_target_prob",
]

_ROW_SUM_TOL = 1e-6
_PROPENSITY_TOL = 1e-6


def _vector(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: must be one-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite (no NaN or infinity)")
    return arr


def check_logged(arm: Any, reward: Any, propensity: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The logged arms, rewards and logging propensities of the logged arms, as arrays of one length."""
    arms = np.asarray(arm)
    if arms.ndim != 1:
        raise ValueError(f"arm: must be one-dimensional, got shape {arms.shape}")
    if len(arms) == 0:
        raise ValueError("arm: needs at least one logged row, got none")
    r = _vector(reward, "reward")
    p = _vector(propensity, "propensity")
    for name, arr in (("reward", r), ("propensity", p)):
        if len(arr) != len(arms):
            raise ValueError(f"{name}: must have one value per logged row ({len(arms)}), got {len(arr)}")
    if np.any(p <= 0.0) or np.any(p > 1.0):
        bad = float(p[(p <= 0.0) | (p > 1.0)][0])
        raise ValueError(f"propensity: must be in (0, 1] (the logged arm was chosen), got {bad}")
    return arms, r, p


def check_target_prob(target_prob: Any, n: int) -> np.ndarray:
    """The target policy's probability of each logged arm: one value in [0, 1] per row."""
    t = _vector(target_prob, "target_prob")
    if len(t) != n:
        raise ValueError(f"target_prob: must have one value per logged row ({n}), got {len(t)}")
    if np.any(t < 0.0) or np.any(t > 1.0):
        raise ValueError("target_prob: must be probabilities in [0, 1]")
    return t


def check_matrix(values: Any, name: str, n: int, k: int) -> np.ndarray:
    """An (n, k) finite matrix: one row per logged row, one column per arm."""
    m = np.asarray(values, dtype=np.float64)
    if m.shape != (n, k):
        raise ValueError(f"{name}: must have shape (rows, arms) = ({n}, {k}), got {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name}: must be finite (no NaN or infinity)")
    return m


def check_distribution(m: np.ndarray, name: str) -> None:
    """Each row of an (n, k) matrix is a probability distribution over the arms."""
    if np.any(m < 0.0) or np.any(m > 1.0):
        raise ValueError(f"{name}: must be probabilities in [0, 1]")
    worst = float(np.abs(m.sum(axis=1) - 1.0).max())
    if worst > _ROW_SUM_TOL:
        raise ValueError(f"{name}: each row must sum to 1 over the arms, one is off by {worst:.3g}")


def check_logging_probs(logging_probs: np.ndarray, cols: np.ndarray, propensity: np.ndarray) -> None:
    """The logging policy's probability of every arm: distributions that agree with the logged propensities."""
    check_distribution(logging_probs, "logging_probs")
    off = float(np.abs(logging_probs[np.arange(len(cols)), cols] - propensity).max())
    if off > _PROPENSITY_TOL:
        raise ValueError(
            f"logging_probs: the logged arm's column must equal its propensity, one is off by {off:.3g}"
        )


def arm_columns(arms: np.ndarray, labels: Sequence[Any]) -> np.ndarray:
    """Column index of each logged arm among ``labels`` (the column order of the per-arm matrices)."""
    index = {label: j for j, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError("arms: column labels must be distinct")
    cols = np.empty(len(arms), dtype=np.int64)
    for i, a in enumerate(arms.tolist()):
        j = index.get(a)
        if j is None:
            raise ValueError(f"arm: logged arm {a!r} is not one of the columns {list(labels)}")
        cols[i] = j
    return cols
