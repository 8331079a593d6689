"""Business formatting of the API's raw numbers: money, shares, percentage points, relative lift.

The API answers in plain floats (0.1001, 3.385, 0.2574); a reader wants 10.0%, 338%, +25.7 pp and a
currency. Binary outcomes are rates, so their effects are percentage points; a continuous outcome
(spend) is money per user, so its effects are amounts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Distinct, colour-blind-safe hues (Okabe-Ito); the control arm is always the neutral grey.
ARM_PALETTE = ["#0072B2", "#E69F00", "#CC79A7", "#009E73", "#D55E00", "#56B4E9"]
CONTROL_COLOR = "#7f7f7f"


def _bad(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def money(x: float | None, currency: str, *, signed: bool = False) -> str:
    if _bad(x):
        return "n/a"
    assert x is not None
    sign = ("+" if x > 0 else "−" if x < 0 else "") if signed else ("−" if x < 0 else "")
    return f"{sign}{currency}{abs(x):,.0f}" if abs(x) >= 100 else f"{sign}{currency}{abs(x):,.2f}"


def pct(x: float | None, digits: int = 1) -> str:
    """A share or ratio (0.1001 → 10.0%, ROI 3.385 → 338.5%)."""
    return "n/a" if _bad(x) else f"{x:.{digits}%}"


def pp(x: float | None, digits: int = 1) -> str:
    """A difference of rates in percentage points (0.2574 → +25.7 pp)."""
    if _bad(x):
        return "n/a"
    assert x is not None
    return f"{x * 100:+.{digits}f} pp"


def effect(x: float | None, outcome_kind: str, currency: str) -> str:
    """A treatment effect in the outcome's unit: pp for a conversion, money for spend."""
    return pp(x) if outcome_kind == "binary" else money(x, currency, signed=True)


def lift(effect_value: float | None, baseline: float | None) -> str:
    """Relative lift of an effect over its baseline rate or mean (+2.5 pp on 10% → +25%)."""
    if _bad(effect_value) or _bad(baseline) or not baseline:
        return "n/a"
    assert effect_value is not None and baseline is not None
    return f"{effect_value / baseline:+.0%}"


def interval(low: float | None, high: float | None, fmt: Any) -> str:
    if _bad(low) or _bad(high):
        return "interval n/a"
    return f"{fmt(low)} to {fmt(high)}"


def count(x: float | int) -> str:
    return f"{x:,.0f}"


def arm_label(arm: str, control: str) -> str:
    """How an arm is named on screen: its own label, the control said as such."""
    return f"{arm} (control)" if arm == control else f"arm {arm}"


def arm_colors(arms: list[str], control: str) -> Mapping[str, str]:
    """One distinct colour per arm label, grey for control, stable across pages."""
    out: dict[str, str] = {}
    treatments = [a for a in arms if a != control]
    for a in arms:
        out[arm_label(a, control)] = (
            CONTROL_COLOR if a == control else ARM_PALETTE[treatments.index(a) % len(ARM_PALETTE)]
        )
    return out
