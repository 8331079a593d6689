"""Bootstrap intervals for the uplift metrics, computed without re-sorting.

A Poisson(1) weight per user is the bootstrap's resample count in the large-sample limit (the
"Poisson bootstrap"); with the users sorted once by predicted uplift, each resample's Qini, AUUC and
uplift@k are weighted cumulative sums, O(n) instead of a sort per resample. The same weights serve
every model scored on the same users (``paired_weights``), so differences between models get an
honest paired interval too.

The point values are the unweighted metrics of ``shared.metrics.uplift``; only the spread comes from
the resamples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from shared.metrics.uplift import _check, auuc, qini_auc, uplift_at_k

_CHUNK = 4

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


def _sorted_groups(uplift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-uplift, kind="stable")
    us = uplift[order]
    ends = np.r_[np.flatnonzero(np.diff(us) != 0), len(us) - 1]
    return order, ends


def _area(n: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Area between each curve (rows) and its random line, per user squared (see uplift._area_over_random)."""
    total = n[:, -1]
    area = np.trapezoid(v, n, axis=1)
    return (area - 0.5 * total * v[:, -1]) / np.maximum(total, 1e-12) ** 2


def _curves(y: np.ndarray, t: np.ndarray, order: np.ndarray, ends: np.ndarray, w: np.ndarray) -> Any:
    ws = w[:, order].astype(np.float64)
    ys, ts = y[order], t[order]
    zero = np.zeros((len(w), 1))
    n = np.hstack([zero, np.cumsum(ws, axis=1)[:, ends]])
    nt = np.hstack([zero, np.cumsum(ws * ts, axis=1)[:, ends]])
    yt = np.hstack([zero, np.cumsum(ws * (ys * ts), axis=1)[:, ends]])
    yc = np.hstack([zero, np.cumsum(ws * (ys * (1 - ts)), axis=1)[:, ends]])
    return n, nt, n - nt, yt, yc


def weighted_qini(y: Any, treatment: Any, uplift: Any, weights: np.ndarray) -> np.ndarray:
    """Qini coefficient under each row of ``weights`` (shape (B, n)); weights of 1 give ``qini_auc``."""
    yv, tv, uv = _check(y, treatment, uplift)
    order, ends = _sorted_groups(uv)
    w = np.atleast_2d(weights)
    out = []
    for start in range(0, len(w), _CHUNK):
        n, nt, nc, yt, yc = _curves(yv, tv, order, ends, w[start : start + _CHUNK])
        out.append(_area(n, yt - np.divide(yc * nt, nc, out=np.zeros_like(yc), where=nc > 0)))
    return np.concatenate(out)


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
    order, ends = _sorted_groups(uv)
    qs, us = [], []
    # A few resamples at a time: the cumulative sums stay in cache instead of (B, n) temporaries.
    for start in range(0, len(w), _CHUNK):
        n, nt, nc, yt, yc = _curves(yv, tv, order, ends, w[start : start + _CHUNK])
        qs.append(_area(n, yt - np.divide(yc * nt, nc, out=np.zeros_like(yc), where=nc > 0)))
        ok = (nt > 0) & (nc > 0)
        mean_t = np.divide(yt, nt, out=np.zeros_like(yt), where=ok)
        mean_c = np.divide(yc, nc, out=np.zeros_like(yc), where=ok)
        us.append(_area(n, np.where(ok, (mean_t - mean_c) * n, 0.0)))
    out = {
        "qini": _interval(qini_auc(yv, tv, uv), np.concatenate(qs), level),
        "auuc": _interval(auuc(yv, tv, uv), np.concatenate(us), level),
    }
    ws, ys, ts = w[:, order], yv[order], tv[order]
    for k in ks:
        top = max(1, round(k * len(yv)))
        try:
            point = uplift_at_k(yv, tv, uv, k)
        except ValueError:
            continue
        wt = ws[:, :top] * ts[:top]
        wc = ws[:, :top] * (1 - ts[:top])
        with np.errstate(invalid="ignore", divide="ignore"):
            samples = (wt @ ys[:top]) / wt.sum(axis=1) - (wc @ ys[:top]) / wc.sum(axis=1)
        out[f"uplift_at_{round(k * 100)}pct"] = _interval(point, samples, level)
    return out
