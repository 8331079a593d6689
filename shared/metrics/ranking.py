"""NDCG@k over query groups (one group = one user's impressions)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ndcg_at_k"]


def ndcg_at_k(labels: Any, scores: Any, groups: Any, k: int = 10) -> float:
    """Mean NDCG@k over groups, gain 2^rel − 1 and log2 discount.

    Groups with no positive label have no ideal ordering and are skipped; ties in ``scores`` are
    broken by input order (stable), which is how a serving system would break them.
    """
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    g = np.asarray(groups)
    if y.ndim != 1 or s.shape != y.shape or g.shape != y.shape:
        raise ValueError("labels, scores, groups: must be 1-D arrays of the same length")
    if len(y) == 0:
        raise ValueError("labels: must not be empty")
    if k < 1:
        raise ValueError(f"k: must be at least 1, got {k}")
    if (y < 0).any() or not np.isfinite(y).all():
        raise ValueError("labels: must be finite and non-negative")
    if not np.isfinite(s).all():
        raise ValueError("scores: must be finite")
    _, gid = np.unique(g, return_inverse=True)
    gain = np.exp2(y) - 1.0

    def dcg(order: np.ndarray) -> np.ndarray:
        gs, gg = gid[order], gain[order]
        starts = np.r_[0, np.flatnonzero(np.diff(gs)) + 1]
        rank = np.arange(len(gs)) - np.repeat(starts, np.diff(np.r_[starts, len(gs)]))
        keep = rank < k
        contrib = np.where(keep, gg / np.log2(rank + 2.0), 0.0)
        return np.bincount(gs, weights=contrib, minlength=gid.max() + 1)

    actual = dcg(np.lexsort((np.arange(len(s)), -s, gid)))
    ideal = dcg(np.lexsort((-gain, gid)))
    used = ideal > 0
    if not used.any():
        raise ValueError("labels: no group has a positive label; NDCG is undefined")
    return float(np.mean(actual[used] / ideal[used]))
