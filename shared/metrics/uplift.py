"""Qini and uplift curves, their areas, uplift@k and uplift by decile.

Users are sorted by predicted uplift, highest first; users with tied scores enter the curve
together (one point per distinct score), so the result does not depend on the order of ties.
Every function works for a binary or a continuous outcome.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["auuc", "qini_auc", "qini_curve", "uplift_at_k", "uplift_by_decile", "uplift_curve"]


def _check(y: Any, treatment: Any, uplift: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yv = np.asarray(y, dtype=np.float64)
    tv = np.asarray(treatment)
    uv = np.asarray(uplift, dtype=np.float64)
    for name, arr in (("y", yv), ("treatment", tv), ("uplift", uv)):
        if arr.ndim != 1:
            raise ValueError(f"{name}: must be 1-D, got {arr.ndim} dimensions")
    if not len(yv) == len(tv) == len(uv):
        raise ValueError(
            f"y, treatment, uplift: must have the same length, got {len(yv)}, {len(tv)}, {len(uv)}"
        )
    if len(yv) == 0:
        raise ValueError("y: must not be empty")
    if not np.isfinite(yv).all():
        raise ValueError("y: must be finite")
    if not np.isfinite(uv).all():
        raise ValueError("uplift: must be finite")
    if not np.isin(tv, (0, 1)).all():
        raise ValueError("treatment: must be 0 (control) or 1 (treated)")
    tv = tv.astype(np.float64)
    if tv.sum() == 0 or tv.sum() == len(tv):
        raise ValueError("treatment: needs both treated (1) and control (0) users")
    return yv, tv, uv


def _cumulative(y: np.ndarray, t: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative (n, N_t, N_c, Y_t, Y_c) at each distinct-score cut-off, starting at 0."""
    order = np.argsort(-u, kind="stable")
    ys, ts, us = y[order], t[order], u[order]
    # Last position of every run of equal scores: ties are taken together.
    ends = np.r_[np.flatnonzero(np.diff(us) != 0), len(us) - 1]
    n = np.r_[0, ends + 1].astype(np.float64)
    nt = np.r_[0, np.cumsum(ts)[ends]]
    yt = np.r_[0, np.cumsum(ys * ts)[ends]]
    yc = np.r_[0, np.cumsum(ys * (1 - ts))[ends]]
    nc = n - nt
    return n, nt, nc, yt, yc


def qini_curve(y: Any, treatment: Any, uplift: Any) -> tuple[np.ndarray, np.ndarray]:
    """(users targeted, Y_t(n) − Y_c(n)·N_t(n)/N_c(n)); 0 while no control user is in the top n."""
    n, nt, nc, yt, yc = _cumulative(*_check(y, treatment, uplift))
    q = yt - np.divide(yc * nt, nc, out=np.zeros_like(yc), where=nc > 0)
    return n, q


def uplift_curve(y: Any, treatment: Any, uplift: Any) -> tuple[np.ndarray, np.ndarray]:
    """(users targeted, (mean_t(n) − mean_c(n))·n); 0 while either group is empty in the top n."""
    n, nt, nc, yt, yc = _cumulative(*_check(y, treatment, uplift))
    ok = (nt > 0) & (nc > 0)
    diff = np.divide(yt, nt, out=np.zeros_like(yt), where=ok) - np.divide(
        yc, nc, out=np.zeros_like(yc), where=ok
    )
    return n, np.where(ok, diff * n, 0.0)


def _area_over_random(x: np.ndarray, v: np.ndarray) -> float:
    """Trapezoid area between the curve and the straight line to its end point, per user.

    A random ordering has expected area 0; the unit is the outcome per user in the population.
    """
    total = x[-1]
    area = float(np.trapezoid(v, x))
    random = 0.5 * total * v[-1]
    return (area - random) / total / total


def qini_auc(y: Any, treatment: Any, uplift: Any) -> float:
    """Qini coefficient: area between the Qini curve and the random line, divided by N² (random = 0)."""
    x, q = qini_curve(y, treatment, uplift)
    return _area_over_random(x, q)


def auuc(y: Any, treatment: Any, uplift: Any) -> float:
    """Area under the uplift curve above the random diagonal, divided by N² (random = 0)."""
    x, u = uplift_curve(y, treatment, uplift)
    return _area_over_random(x, u)


def uplift_at_k(y: Any, treatment: Any, uplift: Any, k: float) -> float:
    """Observed mean(y | treated) − mean(y | control) among the top ``k`` share by predicted uplift."""
    yv, tv, uv = _check(y, treatment, uplift)
    if not 0.0 < k <= 1.0:
        raise ValueError(f"k: must be a share in (0, 1], got {k}")
    top = np.argsort(-uv, kind="stable")[: max(1, round(k * len(yv)))]
    ty, tt = yv[top], tv[top]
    if tt.sum() == 0 or tt.sum() == len(tt):
        raise ValueError(f"k: the top {k:.0%} holds no treated or no control user; use a larger k")
    return float(ty[tt == 1].mean() - ty[tt == 0].mean())


def uplift_by_decile(y: Any, treatment: Any, uplift: Any, bins: int = 10) -> list[dict[str, float]]:
    """Observed uplift per equal-size bin of predicted uplift (bin 0 = highest predictions)."""
    yv, tv, uv = _check(y, treatment, uplift)
    if not 1 <= bins <= len(yv):
        raise ValueError(f"bins: must be between 1 and the number of users ({len(yv)}), got {bins}")
    order = np.argsort(-uv, kind="stable")
    rows: list[dict[str, float]] = []
    for b, idx in enumerate(np.array_split(order, bins)):
        t, yy = tv[idx], yv[idx]
        n_t, n_c = int(t.sum()), int(len(t) - t.sum())
        mean_t = float(yy[t == 1].mean()) if n_t else float("nan")
        mean_c = float(yy[t == 0].mean()) if n_c else float("nan")
        rows.append(
            {
                "bin": b,
                "n_t": n_t,
                "n_c": n_c,
                "mean_t": mean_t if n_t else 0.0,
                "mean_c": mean_c if n_c else 0.0,
                "uplift": mean_t - mean_c if n_t and n_c else 0.0,
                "predicted": float(uv[idx].mean()),
            }
        )
    return rows
