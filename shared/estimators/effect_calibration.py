"""Is the served effect on the right scale? A linear calibration on rows the model did not see.

Ranking (the Qini) only needs the order of the effects; a decision at a cost (treat when effect ×
value > cost) needs their level. Boosted trees shrink towards the mean and cannot extrapolate, so
effects in the tails come out compressed, and a threshold in the tail treats too few users.

The check is the "best linear predictor" regression of Chernozhukov, Demirer, Duflo and
Fernández-Val (2018), run on rows the effects were not fitted on (the trainer uses the held-out
split: services/trainer/calibrate.py): regress the doubly robust pseudo-outcome φ (whose mean
given x is the true effect) on the effect τ̂ centred on its mean τ̄ over those rows,

    φ_i = a + β (τ̂_i − τ̄) + e_i,

per treatment arm, with a heteroskedasticity-robust (HC0) standard error. β = 1 means the effects
are on the right scale; β > 1 says they are compressed, β < 1 that they overstate the heterogeneity
(noise read as signal). The map keeps the model's own average effect (estimated from the training
rows, more of them than the check's) and rescales the spread around it:
effect' = τ̄ + β (effect − τ̄), the members' spread × β. It is applied only when the data can tell β
from 1 (|β − 1| > 1.96 se) and β > 0 (a model whose effects do not rise with the outcomes is left
as is: its verdict says so). A positive linear map keeps every user's rank, so the Qini and every
ranking figure are unchanged.
"""

from __future__ import annotations

import numpy as np

from shared.artifacts import EffectScale

# Two-sided 95%: the slope is applied when it is this many standard errors from 1.
Z_95 = 1.959963984540054
MIN_ROWS = 200

__all__ = ["EffectScale", "blp_fit", "calibrate_arm"]


def blp_fit(phi: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS of ``phi`` on (1, ``tau``): coefficients (α, β) and their HC0 covariance (2 × 2)."""
    phi = np.asarray(phi, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    if phi.ndim != 1 or phi.shape != tau.shape:
        raise ValueError(f"phi, tau: must be 1-D of one length, got {phi.shape} and {tau.shape}")
    if len(phi) < MIN_ROWS:
        raise ValueError(f"phi: needs at least {MIN_ROWS} rows for a calibration fit, got {len(phi)}")
    if not (np.isfinite(phi).all() and np.isfinite(tau).all()):
        raise ValueError("phi, tau: must be finite")
    design = np.column_stack([np.ones_like(tau), tau])
    bread = np.linalg.pinv(design.T @ design)
    coef = bread @ design.T @ phi
    resid = phi - design @ coef
    meat = (design * (resid**2)[:, None]).T @ design
    return coef, bread @ meat @ bread


def calibrate_arm(arm: str, phi: np.ndarray, tau: np.ndarray) -> EffectScale:
    """The fit of one arm and whether to apply it (the module docstring's rule)."""
    tau = np.asarray(tau, dtype=np.float64)

    def unfitted(mean: float, reason: str) -> EffectScale:
        return EffectScale(
            arm=arm,
            rows=len(tau),
            mean_effect=mean,
            slope=1.0,
            slope_se=0.0,
            z=0.0,
            applied=False,
            reason=reason,
        )

    if len(tau) < MIN_ROWS:
        return unfitted(0.0, f"fewer than {MIN_ROWS} rows")
    mean = float(tau.mean())
    if float(np.std(tau)) == 0.0:
        return unfitted(mean, "the effects are constant")
    coef, cov = blp_fit(phi, tau - mean)
    slope, se = float(coef[1]), float(np.sqrt(max(cov[1, 1], 0.0)))
    z = (slope - 1.0) / se if se > 0 else 0.0
    if slope <= 0.0:
        applied, reason = False, "the effects do not rise with the outcomes: slope ≤ 0"
    elif abs(z) > Z_95:
        applied, reason = True, f"the slope differs from 1 at 95% (z = {z:+.1f})"
    else:
        applied, reason = False, f"the slope is within the noise of 1 (z = {z:+.1f})"
    return EffectScale(
        arm=arm,
        rows=len(tau),
        mean_effect=mean,
        slope=slope,
        slope_se=se,
        z=z,
        applied=applied,
        reason=reason,
    )
