"""Overlap diagnostics: propensity histograms by arm, a trimming rule, and the effective sample size.

Trimming rule: Crump, Hotz, Imbens & Mitnik (2009), "Dealing with limited overlap in estimation of
average treatment effects", the data-driven version. With g(x) = 1 / (e(x) (1 - e(x))), keep the rows
with alpha <= e(x) <= 1 - alpha where alpha = 1/2 - sqrt(1/4 - 1/gamma) and gamma solves
gamma = 2 E[g | g <= gamma] (alpha = 0 when max g <= 2 E[g]). That alpha minimises the asymptotic
variance of the average effect on the kept population; their rule of thumb, [0.1, 0.9], approximates
it for many designs. It is data-driven rather than fixed so a well-overlapped table loses no rows.
Crump's rule assumes the arms overlap somewhere: when the features nearly separate them, every row's
propensity is equally extreme and alpha stays 0. So rows are also kept only inside the common support
(Dehejia & Wahba 1999): propensities no lower than the larger of the two arms' minima and no higher
than the smaller of their maxima. Trimming changes the estimand: effects are then for the population where every arm was possible,
which every report states.

Multi-arm tables: each treatment arm's propensity against control is estimated for every row, alpha is
chosen per arm on that arm's (arm, control) rows, and a row is kept only if it is inside the bounds of
every arm, so all arms are compared on one common population.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

HIST_BINS = 20
RULE = (
    "Crump et al. (2009) data-driven trimming: keep rows with alpha <= e(x) <= 1 - alpha, alpha chosen "
    "to minimise the variance of the average effect on the kept rows (0 when overlap is good), and "
    "inside the common support [max of the arms' minimum e, min of their maximum e]; multi-arm: a row is "
    "kept when inside every arm's bounds"
)


def crump_alpha(e: np.ndarray) -> float:
    """The Crump et al. (2009) trimming threshold for propensities ``e`` strictly inside (0, 1)."""
    e = np.asarray(e, dtype=np.float64)
    if e.size == 0 or not ((e > 0.0) & (e < 1.0)).all():
        raise ValueError("e: propensities must be non-empty and strictly between 0 and 1")
    g = np.sort(1.0 / (e * (1.0 - e)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    running_mean = np.cumsum(g) / np.arange(1, len(g) + 1)
    # gamma is the smallest g at which g >= 2 E[g | g <= gamma]; g[-1] > 2 mean(g) guarantees one exists
    # strictly before the end, and gamma >= 4 since e (1 - e) <= 1/4.
    gamma = float(g[np.argmax(g >= 2.0 * running_mean)])
    return float(0.5 - np.sqrt(max(0.25 - 1.0 / gamma, 0.0)))


def kish_ess(weights: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2 of inverse-propensity weights."""
    w = np.asarray(weights, dtype=np.float64)
    return float(w.sum() ** 2 / np.square(w).sum()) if w.size else 0.0


def histogram(e: np.ndarray, treated: np.ndarray, arm: str, control: str) -> dict[str, Any]:
    """Counts of propensities in HIST_BINS equal bins over [0, 1], separately for the arm and control."""
    edges = np.linspace(0.0, 1.0, HIST_BINS + 1)
    return {
        "edges": [round(float(v), 4) for v in edges],
        arm: np.histogram(e[treated == 1], edges)[0].astype(int).tolist(),
        control: np.histogram(e[treated == 0], edges)[0].astype(int).tolist(),
    }


@dataclass(frozen=True)
class ArmOverlap:
    """Overlap of one treatment arm against control, on that pair's rows."""

    arm: str
    alpha: float
    rows: int
    rows_trimmed: int
    propensity_range: tuple[float, float]
    ess_before: dict[str, float]
    ess_after: dict[str, float]
    hist: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "bounds": [self.alpha, 1.0 - self.alpha],
            "rows": self.rows,
            "rows_trimmed": self.rows_trimmed,
            "propensity_min": self.propensity_range[0],
            "propensity_max": self.propensity_range[1],
            "effective_sample_size_before_trimming": self.ess_before,
            "effective_sample_size_after_trimming": self.ess_after,
            "histogram": self.hist,
        }


def _ess(e: np.ndarray, treated: np.ndarray, arm: str, control: str) -> dict[str, float]:
    return {
        arm: round(kish_ess(1.0 / e[treated == 1]), 1),
        control: round(kish_ess(1.0 / (1.0 - e[treated == 0])), 1),
    }


def arm_overlap(e: np.ndarray, treated: np.ndarray, keep: np.ndarray, arm: str, control: str) -> ArmOverlap:
    """Diagnostics of one pair: ``e``, ``treated`` and ``keep`` are restricted to the pair's rows."""
    alpha = crump_alpha(np.clip(e, 1e-6, 1.0 - 1e-6))
    clipped = np.clip(e, 1e-6, 1.0 - 1e-6)
    return ArmOverlap(
        arm=arm,
        alpha=alpha,
        rows=len(e),
        rows_trimmed=int((~keep).sum()),
        propensity_range=(float(e.min()), float(e.max())),
        ess_before=_ess(clipped, treated, arm, control),
        ess_after=_ess(clipped[keep], treated[keep], arm, control),
        hist=histogram(e, treated, arm, control),
    )


def common_support(e: np.ndarray, treated: np.ndarray) -> tuple[float, float]:
    """[max of the two groups' minimum e, min of their maximum e]; empty (low > high) when they separate."""
    groups = [e[treated == a] for a in (0, 1)]
    return float(max(g.min() for g in groups)), float(min(g.max() for g in groups))


def overlap_mask(
    propensities: np.ndarray, pairs: np.ndarray, arm_rows: np.ndarray
) -> tuple[np.ndarray, list[float]]:
    """Rows inside every arm's Crump bounds and common support; all three arguments are (n, arms).

    ``pairs[:, k]`` marks the rows of arm k and control, on which arm k's alpha and support are chosen;
    ``arm_rows[:, k]`` the rows of arm k itself.
    """
    e = np.clip(propensities, 1e-6, 1.0 - 1e-6)
    alphas = [crump_alpha(e[pairs[:, k], k]) for k in range(e.shape[1])]
    keep = np.ones(len(e), dtype=bool)
    for k, alpha in enumerate(alphas):
        low, high = common_support(e[pairs[:, k], k], arm_rows[pairs[:, k], k])
        keep &= (e[:, k] >= max(alpha, low)) & (e[:, k] <= min(1.0 - alpha, high))
    return keep, alphas
