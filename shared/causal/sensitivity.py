"""Sensitivity of an average effect to unmeasured confounding: the E-value (VanderWeele & Ding 2017).

The E-value is the minimum strength of association, on the risk-ratio scale, that an unmeasured
confounder would need with both the treatment and the outcome, beyond the measured features, to
fully explain away the estimate: E = RR + sqrt(RR (RR - 1)) for RR >= 1 (RR is inverted first when
below 1). The E-value of the interval applies the same formula to the interval's limit nearest to 1,
and is 1 when the interval already contains 1.

- Binary outcome: RR is the ratio of the AIPW means E[Y(1)] / E[Y(0)], with its interval from the
  delta method on log RR (no rare-outcome approximation is needed since it is a risk ratio).
- Continuous outcome: the standardized mean difference d = effect / sd (sd pooled within arms) is
  mapped to RR ~= exp(0.91 d), its interval to exp(0.91 (d +- z se_d)) (VanderWeele & Ding 2017,
  after Chinn 2000); an approximation, and reported as one.

Why the E-value and not Rosenbaum bounds: Rosenbaum's bounds are defined for matched designs (a
sign-rank or McNemar test on matched pairs) and bound a p-value, while the estimate here is a
weighted, doubly robust average on unmatched rows; the E-value needs only the estimate and its
interval, is on an interpretable scale (the risk ratio a hidden confounder must reach), and applies to
binary and continuous outcomes alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.causal.aipw import AverageEffect

# exp(0.91 d): the RR approximation for a standardized mean difference (VanderWeele & Ding 2017).
SMD_TO_LOG_RR = 0.91


def e_value(rr: float) -> float:
    """The E-value of a risk ratio (symmetric: RR and 1/RR give the same E-value)."""
    if not (math.isfinite(rr) and rr > 0.0):
        raise ValueError(f"rr: a risk ratio must be finite and positive, got {rr}")
    r = rr if rr >= 1.0 else 1.0 / rr
    return r + math.sqrt(r * (r - 1.0))


def e_value_interval(rr: float, low: float, high: float) -> float:
    """The E-value of the interval's limit nearest to the null; 1 when [low, high] contains 1."""
    if low <= 1.0 <= high:
        return 1.0
    return e_value(low if rr > 1.0 else high)


@dataclass(frozen=True)
class Sensitivity:
    method: str
    risk_ratio: float
    risk_ratio_low: float
    risk_ratio_high: float
    e_value: float
    e_value_interval: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "risk_ratio": self.risk_ratio,
            "risk_ratio_interval": [self.risk_ratio_low, self.risk_ratio_high],
            "e_value": self.e_value,
            "e_value_interval": self.e_value_interval,
            "reading": self.reading(),
        }

    def reading(self) -> str:
        return (
            f"an unmeasured confounder associated with both treatment and outcome by a risk ratio of "
            f"{self.e_value:.2f} each (beyond the measured features) could explain away the estimate; "
            f"{self.e_value_interval:.2f} each could move its interval to include no effect"
        )


def _build(method: str, log_rr: float, se_log: float, z: float) -> Sensitivity:
    rr, low, high = (math.exp(v) for v in (log_rr, log_rr - z * se_log, log_rr + z * se_log))
    return Sensitivity(method, rr, low, high, e_value(rr), e_value_interval(rr, low, high))


def binary_sensitivity(effect: AverageEffect) -> Sensitivity:
    """E-value on the risk ratio E[Y(1)] / E[Y(0)] of a 0/1 outcome."""
    if effect.se_log_ratio is None:
        raise ValueError("effect: the risk ratio needs positive means under both arms")
    log_rr = math.log(effect.mean_treated / effect.mean_control)
    return _build("risk ratio of the AIPW means (binary outcome)", log_rr, effect.se_log_ratio, effect.z)


def pooled_sd(y: np.ndarray, treated: np.ndarray) -> float:
    """Within-arm standard deviation pooled over the two arms (the scale of a standardized difference)."""
    groups = [np.asarray(y, dtype=np.float64)[np.asarray(treated) == a] for a in (0, 1)]
    dof = sum(len(g) - 1 for g in groups)
    return float(np.sqrt(sum(g.var(ddof=1) * (len(g) - 1) for g in groups) / dof))


def continuous_sensitivity(effect: AverageEffect, sd: float) -> Sensitivity:
    """E-value via the standardized mean difference d = effect / sd, RR ~= exp(0.91 d)."""
    if not (math.isfinite(sd) and sd > 0.0):
        raise ValueError(f"sd: the outcome's standard deviation must be positive, got {sd}")
    d, se_d = effect.value / sd, effect.se / sd
    return _build(
        f"standardized mean difference d = {d:.4g} (pooled sd {sd:.4g}) mapped to RR ~= exp(0.91 d) "
        "(continuous outcome; approximation)",
        SMD_TO_LOG_RR * d,
        SMD_TO_LOG_RR * se_d,
        effect.z,
    )
