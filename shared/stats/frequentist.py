"""Frequentist comparisons of each treatment with the control.

Binary metrics: the two-proportion z-test (pooled standard error under H0, as statsmodels'
``proportions_ztest``) with a Wald interval of the difference (unpooled). Continuous metrics:
Welch's t-test and its interval. Relative lift (treatment / control − 1) by the delta method.
Several treatments: Holm's step-down correction of the p-values, which controls the family-wise
error rate without assuming independence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scipy import stats

from shared.stats.inputs import ContinuousVariant, ConversionVariant, Variant, check_variants


@dataclass(frozen=True)
class Comparison:
    """One treatment against the control. Intervals are two-sided at 1 − alpha."""

    variant: str
    control: str
    test: str
    difference: float
    ci_difference: tuple[float, float]
    relative_lift: float | None
    ci_relative_lift: tuple[float, float] | None
    statistic: float
    p_value: float
    p_value_holm: float
    df: float | None = None
    note: str | None = None


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be strictly between 0 and 1, got {alpha!r}")


def _relative(
    m_c: float, se_c: float, m_t: float, se_t: float, z: float
) -> tuple[float | None, tuple[float, float] | None]:
    """Delta method for r = m_t / m_c − 1: Var(r) ≈ se_t² / m_c² + m_t² · se_c² / m_c⁴."""
    if m_c <= 0:
        return None, None  # a lift relative to a zero (or negative) baseline means nothing
    r = m_t / m_c - 1.0
    se = math.sqrt(se_t**2 / m_c**2 + m_t**2 * se_c**2 / m_c**4)
    return r, (r - z * se, r + z * se)


def _p_and_stat(diff: float, se: float, sf: Callable[[float], Any]) -> tuple[float, float, str | None]:
    """The two-sided p-value when the standard error may be zero (both arms constant)."""
    if se > 0:
        stat = diff / se
        return stat, float(min(1.0, 2.0 * sf(abs(stat)))), None
    if diff == 0:
        return 0.0, 1.0, "no variation in either arm and no difference: nothing to test"
    return math.copysign(math.inf, diff), 0.0, "no variation in either arm: the difference is exact"


def two_proportion_ztest(
    control: ConversionVariant, treatment: ConversionVariant, alpha: float = 0.05
) -> Comparison:
    _check_alpha(alpha)
    n_c, n_t = control.users, treatment.users
    p_c, p_t = control.mean, treatment.mean
    pooled = (control.conversions + treatment.conversions) / (n_c + n_t)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    diff = p_t - p_c
    stat, p, note = _p_and_stat(diff, se0, stats.norm.sf)
    z = float(stats.norm.ppf(1 - alpha / 2))
    se_c, se_t = math.sqrt(control.variance / n_c), math.sqrt(treatment.variance / n_t)
    se = math.hypot(se_c, se_t)
    rel, rel_ci = _relative(p_c, se_c, p_t, se_t, z)
    return Comparison(
        variant=treatment.name, control=control.name, test="two-proportion z-test",
        difference=diff, ci_difference=(diff - z * se, diff + z * se), relative_lift=rel,
        ci_relative_lift=rel_ci, statistic=stat, p_value=p, p_value_holm=p, note=note,
    )  # fmt: skip


def welch_ttest(control: ContinuousVariant, treatment: ContinuousVariant, alpha: float = 0.05) -> Comparison:
    _check_alpha(alpha)
    for v in (control, treatment):
        if v.users < 2:
            raise ValueError(
                f"{v.name}.users: Welch's t-test needs at least 2 users per variant, got {v.users}"
            )
    w_c, w_t = control.variance / control.users, treatment.variance / treatment.users
    se = math.sqrt(w_c + w_t)
    diff = treatment.mean - control.mean
    if se > 0:
        df = (w_c + w_t) ** 2 / (w_c**2 / (control.users - 1) + w_t**2 / (treatment.users - 1))
        dist = stats.t(df)
        stat, p, note = _p_and_stat(diff, se, dist.sf)
        q = float(dist.ppf(1 - alpha / 2))
    else:
        df = None
        stat, p, note = _p_and_stat(diff, se, stats.norm.sf)
        q = 0.0
    z = float(stats.norm.ppf(1 - alpha / 2))
    rel, rel_ci = _relative(control.mean, math.sqrt(w_c), treatment.mean, math.sqrt(w_t), z)
    return Comparison(
        variant=treatment.name, control=control.name, test="Welch t-test", difference=diff,
        ci_difference=(diff - q * se, diff + q * se), relative_lift=rel, ci_relative_lift=rel_ci,
        statistic=stat, p_value=p, p_value_holm=p, df=df, note=note,
    )  # fmt: skip


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values: sort, multiply the i-th smallest by (m − i), keep monotone."""
    m = len(p_values)
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p_values: must lie in [0, 1], got {p!r}")
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare_to_control(
    variants: Sequence[Variant], control: str | None = None, alpha: float = 0.05
) -> list[Comparison]:
    """Every treatment against the control, with Holm-adjusted p-values across the treatments."""
    name = check_variants(variants, control)
    ctrl = next(v for v in variants if v.name == name)
    out: list[Comparison] = []
    for v in variants:
        if v.name == name:
            continue
        if isinstance(ctrl, ConversionVariant) and isinstance(v, ConversionVariant):
            out.append(two_proportion_ztest(ctrl, v, alpha))
        elif isinstance(ctrl, ContinuousVariant) and isinstance(v, ContinuousVariant):
            out.append(welch_ttest(ctrl, v, alpha))
    adjusted = holm([c.p_value for c in out])
    return [replace(c, p_value_holm=a) for c, a in zip(out, adjusted, strict=True)]


__all__ = ["Comparison", "compare_to_control", "holm", "two_proportion_ztest", "welch_ttest"]
