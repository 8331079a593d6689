"""Is the served effect on the right scale? A linear calibration from out-of-fold effects.

Ranking (the Qini) only needs the order of the effects; a decision at a cost (treat when effect ×
value > cost) needs their level. Boosted trees shrink towards the mean and cannot extrapolate, so
effects in the tails come out compressed, and a threshold in the tail treats too few users.

The check is the "best linear predictor" regression of Chernozhukov, Demirer, Duflo and
Fernández-Val (2018), run on rows the effects were not fitted on: regress the doubly robust
pseudo-outcome φ (whose mean given x is the true effect) on the out-of-fold effect τ̂,

    φ_i = α + β τ̂_i + e_i,

per treatment arm, with a heteroskedasticity-robust (HC0) covariance. Perfectly calibrated effects
give α = 0, β = 1; β > 1 says they are compressed, β < 1 that they overstate the heterogeneity
(noise read as signal). The fit is applied (effect' = α + β·effect, members' spread × β) only when
the data can tell it from the identity: a Wald test of (α, β) = (0, 1) at 95%, and β > 0 (a model
whose out-of-fold effects do not rise with the outcomes is left as is: its verdict says so).
A positive linear map keeps every user's rank, so the Qini and every ranking figure are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# χ²(2) at 95%: the Wald statistic of (α, β) = (0, 1) above which the calibration is applied.
WALD_95_2DF = 5.991464547107979
MIN_ROWS = 200
_Z95 = 1.959963984540054

__all__ = ["ArmCalibration", "blp_fit", "calibrate_arm", "held_out_scale"]


@dataclass(frozen=True)
class ArmCalibration:
    """One treatment arm's fit: the applied map is (intercept, slope) if ``applied`` else (0, 1)."""

    arm: str
    rows: int
    intercept: float
    slope: float
    intercept_se: float
    slope_se: float
    wald: float
    applied: bool
    reason: str

    @property
    def map(self) -> tuple[float, float]:
        """(intercept, slope) the served effect goes through."""
        return (self.intercept, self.slope) if self.applied else (0.0, 1.0)


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


def calibrate_arm(arm: str, phi: np.ndarray, tau: np.ndarray) -> ArmCalibration:
    """The fit of one arm and whether to apply it (the module docstring's rule)."""
    if len(tau) < MIN_ROWS:
        return ArmCalibration(arm, len(tau), 0.0, 1.0, 0.0, 0.0, 0.0, False, f"fewer than {MIN_ROWS} rows")
    if float(np.std(tau)) == 0.0:
        return ArmCalibration(arm, len(tau), 0.0, 1.0, 0.0, 0.0, 0.0, False, "the effects are constant")
    coef, cov = blp_fit(phi, tau)
    gap = coef - np.array([0.0, 1.0])
    wald = float(gap @ np.linalg.pinv(cov) @ gap)
    intercept, slope = float(coef[0]), float(coef[1])
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    if slope <= 0.0:
        applied, reason = (
            False,
            "the out-of-fold effects do not rise with the outcomes (slope ≤ 0): left as fitted",
        )
    elif wald > WALD_95_2DF:
        applied, reason = True, f"differs from the identity at 95% (Wald {wald:.1f} > {WALD_95_2DF:.2f})"
    else:
        applied, reason = False, f"within the noise of the identity (Wald {wald:.1f} ≤ {WALD_95_2DF:.2f})"
    return ArmCalibration(arm, len(tau), intercept, slope, float(se[0]), float(se[1]), wald, applied, reason)


def held_out_scale(
    y: np.ndarray, treated: np.ndarray, mu0: np.ndarray, mu1: np.ndarray, effect: np.ndarray
) -> dict[str, float | int | None]:
    """The same regression on held-out rows, for the report: slope and intercept of the served effect
    with normal 95% intervals (slope 1, intercept 0: the effects are on the right scale).

    ``treated`` is 1 for the arm, 0 for control; its share is the design propensity."""
    from shared.estimators.drlearner import dr_pseudo_outcomes

    t = np.asarray(treated, dtype=np.float64)
    if len(t) < MIN_ROWS or float(np.std(effect)) == 0.0 or t.min() == t.max():
        return {"rows": len(t), "slope": None, "slope_low": None, "slope_high": None, "intercept": None}
    phi = dr_pseudo_outcomes(y, t, mu0, mu1, np.full(len(t), t.mean()))
    coef, cov = blp_fit(phi, effect)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    return {
        "rows": len(t),
        "slope": float(coef[1]),
        "slope_low": float(coef[1] - _Z95 * se[1]),
        "slope_high": float(coef[1] + _Z95 * se[1]),
        "intercept": float(coef[0]),
        "intercept_low": float(coef[0] - _Z95 * se[0]),
        "intercept_high": float(coef[0] + _Z95 * se[0]),
    }
