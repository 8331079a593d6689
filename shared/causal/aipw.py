"""The average effect of one arm against control by AIPW (augmented inverse-propensity weighting).

With cross-fitted outcome models mu_a(x) and propensity e(x), the per-row scores
psi_1 = mu_1 + T (y - mu_1) / e and psi_0 = mu_0 + (1 - T) (y - mu_0) / (1 - e) have means E[Y(1)] and
E[Y(0)] when either the outcome models or the propensity are right (doubly robust), and their
difference is the DR-learner's pseudo-outcome (``dr_pseudo_outcomes``). The estimate is the mean of
that difference; its standard error is the sample sd of the scores over sqrt(n) (the influence
function), valid with cross-fitting and flexible models (Chernozhukov et al. 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from shared.causal.nuisance import NuisanceConfig, cross_fitted_outcomes
from shared.estimators.drlearner import dr_pseudo_outcomes
from shared.estimators.propensity import CLIP

LEVEL = 0.95


@dataclass(frozen=True)
class AverageEffect:
    """An average effect with its interval, plus the means under each arm (for the risk ratio)."""

    value: float
    se: float
    level: float
    n: int
    mean_treated: float
    mean_control: float
    # Standard error of log(mean_treated / mean_control); None when a mean is not positive.
    se_log_ratio: float | None

    @property
    def z(self) -> float:
        return float(stats.norm.ppf(0.5 + self.level / 2.0))

    @property
    def low(self) -> float:
        return self.value - self.z * self.se

    @property
    def high(self) -> float:
        return self.value + self.z * self.se

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.value,
            "se": self.se,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "n": self.n,
            "mean_treated": self.mean_treated,
            "mean_control": self.mean_control,
        }


Estimator = Callable[[np.ndarray, np.ndarray, np.ndarray], AverageEffect]


def aipw_effect(
    X: np.ndarray,
    treated: np.ndarray,
    y: np.ndarray,
    *,
    outcome_kind: str,
    config: NuisanceConfig,
    level: float = LEVEL,
) -> AverageEffect:
    """AIPW average effect of ``treated`` == 1 against 0 on these rows (propensity clipped to CLIP)."""
    t = np.asarray(treated, dtype=np.float64)
    yv = np.asarray(y, dtype=np.float64)
    if not np.isin(t, (0.0, 1.0)).all() or t.min() == t.max():
        raise ValueError("treated: must hold both 0 (control) and 1 (arm) and nothing else")
    mu0, mu1, e = cross_fitted_outcomes(X, t, yv, outcome_kind, config)
    e = np.clip(e, *CLIP)
    psi1 = mu1 + t * (yv - mu1) / e
    psi0 = mu0 + (1.0 - t) * (yv - mu0) / (1.0 - e)
    phi = dr_pseudo_outcomes(yv, t, mu0, mu1, e)
    n = len(phi)
    m1, m0 = float(psi1.mean()), float(psi0.mean())
    se_log = None
    if m1 > 0.0 and m0 > 0.0:
        # Delta method: the influence function of log(m1 / m0) is (psi1 - m1) / m1 - (psi0 - m0) / m0.
        se_log = float(np.std((psi1 - m1) / m1 - (psi0 - m0) / m0, ddof=1) / np.sqrt(n))
    return AverageEffect(
        value=float(phi.mean()),
        se=float(np.std(phi, ddof=1) / np.sqrt(n)),
        level=level,
        n=n,
        mean_treated=m1,
        mean_control=m0,
        se_log_ratio=se_log,
    )


def naive_difference(treated: np.ndarray, y: np.ndarray, level: float = LEVEL) -> AverageEffect:
    """Treated mean minus control mean with a Welch standard error: unbiased only under randomization."""
    t = np.asarray(treated) == 1
    yv = np.asarray(y, dtype=np.float64)
    a, b = yv[t], yv[~t]
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    return AverageEffect(
        value=float(a.mean() - b.mean()),
        se=se,
        level=level,
        n=len(yv),
        mean_treated=float(a.mean()),
        mean_control=float(b.mean()),
        se_log_ratio=None,
    )
