"""Bootstrap intervals for the uplift metrics, computed without re-sorting or re-ordering.

A Poisson(1) weight per user is the bootstrap's resample count in the large-sample limit (the
"Poisson bootstrap"). With the users sorted once by predicted uplift, a resample's Qini, AUUC and
uplift@k need only weighted sums of (1, t, y·t, y·(1−t)) per block of consecutive users and over the
top k: one sparse matrix of those sums times the weight matrix gives every resample at once, with no
per-resample sort and no re-ordering of the weights. The same weights serve every model scored on
the same users (``paired_weights``), so differences between models get an honest paired interval too.

Blocks are the runs of tied scores (the curve's own points), so up to MAX_POINTS distinct scores the
resampled curves are exact; above, consecutive runs are merged into MAX_POINTS blocks cut at distinct
scores (ties are never split), and the trapezoid between block ends is the only approximation: far
below the bootstrap's own spread at the sizes where it applies (tested). The point values are the
unweighted metrics of ``shared.metrics.uplift``; only the spread comes from the resamples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shared.metrics.uplift import _check, auuc, qini_auc, uplift_at_k

# Points of a resampled curve at most; resamples multiplied by the block sums at a time.
MAX_POINTS = 4096
_CHUNK = 16

__all__ = ["MetricInterval", "bootstrap_metrics", "paired_weights", "weighted_qini"]


@dataclass(frozen=True)
class MetricInterval:
    """A metric's point value, its bootstrap standard deviation and a percentile interval."""

    value: float
    sd: float
    low: float
    high: float
    level: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Poisson(1) resample weights, shape (n_boot, n), seeded: reuse them for every model compared."""
    if n_boot < 2:
        raise ValueError(f"n_boot: must be at least 2, got {n_boot}")
    return np.random.default_rng(seed).poisson(1.0, size=(n_boot, n)).astype(np.float32)


def _blocks(uplift: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Users in score order (highest first), the block of every sorted position, and the block count."""
    order = np.argsort(-uplift, kind="stable")
    us = uplift[order]
    starts_group = np.r_[True, us[1:] != us[:-1]]
    group = np.cumsum(starts_group) - 1
    n_groups = int(group[-1]) + 1
    if n_groups <= MAX_POINTS:
        return order, group, n_groups
    # Cut at the first distinct score at or after each of MAX_POINTS equal-count positions.
    group_starts = np.flatnonzero(starts_group)
    targets = np.linspace(0, len(us), MAX_POINTS + 1)[1:-1]
    cuts = np.unique(np.searchsorted(group_starts, targets))
    block_of_group = np.searchsorted(cuts, np.arange(n_groups), side="right")
    return order, block_of_group[group], int(block_of_group[-1]) + 1


def _sums(
    y: np.ndarray, t: np.ndarray, uplift: np.ndarray, w: np.ndarray, tops: tuple[int, ...] = ()
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per resample (rows of ``w``): cumulative (n, N_t, Y_t, Y_c) at every block end, shape (4, B, G),
    and for each top size the weighted (n, N_t, Y_t, Y_c) of the top users, shape (4, B)."""
    # Imported here: the API imports this module (observed metrics) and starts ~0.35 s sooner without it.
    from scipy import sparse

    order, block, n_blocks = _blocks(uplift)
    n = len(y)
    stats = (np.ones(n), t, y * t, y * (1.0 - t))
    rows = [np.r_[[k * n_blocks + block for k in range(4)]].ravel()]
    cols = [np.tile(order, 4)]
    vals = [np.concatenate([s[order] for s in stats])]
    for j, top in enumerate(tops):
        base = 4 * n_blocks + 4 * j
        idx = order[:top]
        rows.append(np.repeat(base + np.arange(4), top))
        cols.append(np.tile(idx, 4))
        vals.append(np.concatenate([s[idx] for s in stats]))
    m = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(4 * n_blocks + 4 * len(tops), n),
    )
    out = np.vstack([(m @ w[i : i + _CHUNK].T.astype(np.float64)).T for i in range(0, len(w), _CHUNK)])
    curves = np.cumsum(out[:, : 4 * n_blocks].reshape(len(w), 4, n_blocks), axis=2).transpose(1, 0, 2)
    top_sums = [out[:, 4 * n_blocks + 4 * j : 4 * n_blocks + 4 * j + 4].T for j in range(len(tops))]
    return curves, top_sums


def _area(n: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Area between each curve (rows) and its random line, per user squared (see uplift._area_over_random).

    The curves start at (0, 0), which ``n`` and ``v`` leave out: its trapezoid is added here.
    """
    total = n[:, -1]
    area = np.trapezoid(v, n, axis=1) + 0.5 * v[:, 0] * n[:, 0]
    return (area - 0.5 * total * v[:, -1]) / np.maximum(total, 1e-12) ** 2


def _qini_rows(curves: np.ndarray) -> np.ndarray:
    n, nt, yt, yc = curves
    nc = n - nt
    return _area(n, yt - np.divide(yc * nt, nc, out=np.zeros_like(yc), where=nc > 0))


def weighted_qini(y: Any, treatment: Any, uplift: Any, weights: np.ndarray) -> np.ndarray:
    """Qini coefficient under each row of ``weights`` (shape (B, n)); weights of 1 give ``qini_auc``
    (exactly up to MAX_POINTS distinct scores)."""
    yv, tv, uv = _check(y, treatment, uplift)
    curves, _ = _sums(yv, tv, uv, np.atleast_2d(weights))
    return _qini_rows(curves)


def _interval(value: float, samples: np.ndarray, level: float) -> MetricInterval:
    finite = samples[np.isfinite(samples)]
    if len(finite) < 2:
        return MetricInterval(value, float("nan"), float("nan"), float("nan"), level)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return MetricInterval(value, float(finite.std(ddof=1)), float(low), float(high), level)


def bootstrap_metrics(
    y: Any,
    treatment: Any,
    uplift: Any,
    weights: np.ndarray,
    ks: tuple[float, ...] = (0.1, 0.3),
    level: float = 0.9,
) -> dict[str, MetricInterval]:
    """Qini, AUUC and uplift@k of one model on held-out users, each with a bootstrap interval.

    ``weights`` comes from ``paired_weights(len(y), B, seed)``; ``level`` is the interval's coverage.
    uplift@k is None-free: a k whose top share holds a single arm is left out of the result.
    """
    yv, tv, uv = _check(y, treatment, uplift)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: must be in (0, 1), got {level}")
    w = np.atleast_2d(weights)
    if w.shape[1] != len(yv):
        raise ValueError(f"weights: need one column per user ({len(yv)}), got shape {w.shape}")
    tops = tuple(max(1, round(k * len(yv))) for k in ks)
    curves, top_sums = _sums(yv, tv, uv, w, tops)
    n, nt, yt, yc = curves
    nc = n - nt
    ok = (nt > 0) & (nc > 0)
    mean_t = np.divide(yt, nt, out=np.zeros_like(yt), where=ok)
    mean_c = np.divide(yc, nc, out=np.zeros_like(yc), where=ok)
    out = {
        "qini": _interval(qini_auc(yv, tv, uv), _qini_rows(curves), level),
        "auuc": _interval(auuc(yv, tv, uv), _area(n, np.where(ok, (mean_t - mean_c) * n, 0.0)), level),
    }
    for k, (n_k, nt_k, yt_k, yc_k) in zip(ks, top_sums, strict=True):
        try:
            point = uplift_at_k(yv, tv, uv, k)
        except ValueError:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            samples = yt_k / nt_k - yc_k / (n_k - nt_k)
        out[f"uplift_at_{round(k * 100)}pct"] = _interval(point, samples, level)
    return out
