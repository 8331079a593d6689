"""Power, sample size and minimum detectable effect of a two-sided two-sample test.

The normal approximation on a standardized effect, as statsmodels' ``NormalIndPower``:
proportions use Cohen's h = 2·asin√p₁ − 2·asin√p₀ (variance-stabilizing, so the formula does not
depend on which rate is unknown), means use d = δ / σ. Power counts both rejection tails.
``ratio`` is the treatment arm's size over the control's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import optimize, stats


@dataclass(frozen=True)
class SampleSize:
    n_control: int
    n_treatment: int
    effect_size: float  # standardized: Cohen's h (proportions) or d (means)


def _check(alpha: float, power: float | None = None, ratio: float = 1.0) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be strictly between 0 and 1, got {alpha!r}")
    if power is not None and not alpha < power < 1.0:
        raise ValueError(f"power: must be in (alpha, 1), got {power!r}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio: must be finite and positive, got {ratio!r}")


def _rate(p: float, field: str) -> None:
    if not 0.0 < p < 1.0:
        raise ValueError(f"{field}: must be a rate strictly between 0 and 1, got {p!r}")


def power_standardized(
    effect_size: float, n_control: float, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    _check(alpha, ratio=ratio)
    if n_control <= 0:
        raise ValueError(f"n: must be positive, got {n_control!r}")
    crit = float(stats.norm.isf(alpha / 2))
    shift = abs(effect_size) * math.sqrt(n_control * ratio / (1.0 + ratio))
    return float(stats.norm.sf(crit - shift) + stats.norm.cdf(-crit - shift))


def _n_for(effect_size: float, alpha: float, power: float, ratio: float) -> float:
    _check(alpha, power, ratio)
    if effect_size == 0 or not math.isfinite(effect_size):
        raise ValueError(f"effect: must be a finite non-zero difference, got {effect_size!r}")
    return float(
        optimize.brentq(
            lambda n: power_standardized(effect_size, n, alpha, ratio) - power, 1e-6, 1e15, xtol=1e-9
        )
    )


def _es_for(n_control: float, alpha: float, power: float, ratio: float) -> float:
    _check(alpha, power, ratio)
    if n_control <= 0:
        raise ValueError(f"n: must be positive, got {n_control!r}")
    return float(
        optimize.brentq(
            lambda d: power_standardized(d, n_control, alpha, ratio) - power, 1e-12, 1e3, xtol=1e-14
        )
    )


def cohens_h(p0: float, p1: float) -> float:
    _rate(p0, "baseline")
    if not 0.0 <= p1 <= 1.0:
        raise ValueError(f"baseline + effect: must stay a rate in [0, 1], got {p1!r}")
    return 2.0 * math.asin(math.sqrt(p1)) - 2.0 * math.asin(math.sqrt(p0))


def power_proportions(
    baseline: float, effect: float, n_control: float, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """Power to detect ``baseline`` → ``baseline + effect`` (absolute) with ``n_control`` users in control."""
    return power_standardized(cohens_h(baseline, baseline + effect), n_control, alpha, ratio)


def sample_size_proportions(
    baseline: float, effect: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    h = cohens_h(baseline, baseline + effect)
    n = _n_for(h, alpha, power, ratio)
    return SampleSize(math.ceil(n), math.ceil(n * ratio), h)


def mde_proportions(
    baseline: float, n_control: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest absolute increase over ``baseline`` detected with the given power."""
    _rate(baseline, "baseline")
    h = _es_for(n_control, alpha, power, ratio)
    top = 2.0 * math.asin(math.sqrt(baseline)) + h
    if top >= math.pi:
        raise ValueError(f"n: too small, no rate above {baseline} is detectable with power {power}")
    return math.sin(top / 2.0) ** 2 - baseline


def _sd(sd: float) -> None:
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sd: must be finite and positive, got {sd!r}")


def power_means(effect: float, sd: float, n_control: float, alpha: float = 0.05, ratio: float = 1.0) -> float:
    _sd(sd)
    return power_standardized(effect / sd, n_control, alpha, ratio)


def sample_size_means(
    effect: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> SampleSize:
    _sd(sd)
    n = _n_for(effect / sd, alpha, power, ratio)
    return SampleSize(math.ceil(n), math.ceil(n * ratio), effect / sd)


def mde_means(
    sd: float, n_control: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    _sd(sd)
    return _es_for(n_control, alpha, power, ratio) * sd


__all__ = [
    "SampleSize",
    "cohens_h",
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "power_standardized",
    "sample_size_means",
    "sample_size_proportions",
]
