"""Sample-ratio mismatch: are the observed arm sizes what the planned allocation predicts?

A mismatch means assignment or logging is broken (bots filtered in one arm, a redirect that loses
users...), and then no effect estimate can be trusted. The usual bar is p < 0.001: strict enough
that a healthy experiment almost never trips it, yet large tests detect a 1% imbalance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

SRM_THRESHOLD = 0.001


@dataclass(frozen=True)
class SrmResult:
    chi2: float
    p_value: float
    ok: bool
    threshold: float
    observed: dict[str, int]
    expected: dict[str, float]
    allocation: dict[str, float]
    allocation_assumed: bool


def check_allocation(
    names: Sequence[str], allocation: Mapping[str, float] | None
) -> tuple[dict[str, float], bool]:
    """Normalized planned shares per variant; equal shares (flagged as assumed) when none are given."""
    if allocation is None:
        return {n: 1.0 / len(names) for n in names}, True
    missing = [n for n in names if n not in allocation]
    extra = [k for k in allocation if k not in names]
    if missing or extra:
        raise ValueError(
            f"allocation: must name exactly the variants {list(names)} (missing {missing}, unknown {extra})"
        )
    for k, v in allocation.items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ValueError(f"allocation.{k}: must be a finite positive share, got {v!r}")
    total = float(sum(allocation.values()))
    return {n: float(allocation[n]) / total for n in names}, False


def sample_ratio_test(
    users: Mapping[str, int], allocation: Mapping[str, float] | None = None, threshold: float = SRM_THRESHOLD
) -> SrmResult:
    """Pearson's chi-square goodness of fit of the arm sizes to the planned shares (which may not sum to 1)."""
    names = list(users)
    if len(names) < 2:
        raise ValueError(f"variants: the sample-ratio test needs at least two, got {len(names)}")
    if any(n < 0 for n in users.values()):
        raise ValueError("users: counts must be >= 0")
    total = sum(users.values())
    if total == 0:
        raise ValueError("users: the variants hold no users at all")
    shares, assumed = check_allocation(names, allocation)
    observed = [users[n] for n in names]
    expected = [shares[n] * total for n in names]
    chi2, p = stats.chisquare(observed, expected)
    return SrmResult(
        chi2=float(chi2), p_value=float(p), ok=bool(p >= threshold), threshold=threshold,
        observed=dict(users), expected=dict(zip(names, expected, strict=True)), allocation=shares,
        allocation_assumed=assumed,
    )  # fmt: skip


__all__ = ["SRM_THRESHOLD", "SrmResult", "check_allocation", "sample_ratio_test"]
