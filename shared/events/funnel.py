"""The funnel per variant: view → click → cart → purchase, with intervals and the lift at each step.

A step counts the users who did that event *and every earlier one* in the outcome window (so each
step is a subset of the one before and every step rate is a proportion). For each step and variant:
the share of all users who reached it and the step rate (reached / reached the step before), both
with Wilson intervals; against the control, the difference of step rates and of overall rates with
the two-proportion z-test of shared.stats (Wald interval of the difference, delta-method relative lift).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from shared.events.schema import OUTCOME_FLAGS, VARIANT
from shared.stats import Comparison, ConversionVariant, two_proportion_ztest

STEPS = OUTCOME_FLAGS  # viewed, clicked, added_to_cart, purchased


@dataclass(frozen=True)
class FunnelCounts:
    """Users of one variant and how many reached each step (non-increasing)."""

    variant: str
    users: int
    reached: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.reached) != len(STEPS):
            raise ValueError(
                f"reached: need {len(STEPS)} counts ({', '.join(STEPS)}), got {len(self.reached)}"
            )
        if self.users < 0:
            raise ValueError(f"{self.variant}.users: must be >= 0, got {self.users}")
        previous, prev_name = self.users, "users"
        for name, count in zip(STEPS, self.reached, strict=True):
            if not 0 <= count <= previous:
                raise ValueError(
                    f"{self.variant}.{name}: must lie in [0, {prev_name}={previous}] (a step counts users "
                    f"who reached every earlier step), got {count}"
                )
            previous, prev_name = count, name


def json_safe(value: Any) -> Any:
    """Infinite statistics (no variance but a difference) become null, as in the decision report."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def wilson(successes: int, trials: int, alpha: float) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (None with no trials)."""
    if trials == 0:
        return None
    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return float(ci.low), float(ci.high)


def funnel_counts(frame: pd.DataFrame, variant: str = VARIANT) -> list[FunnelCounts]:
    """Counts from a prepared table (one row per user with the 0/1 step columns), variants in order seen."""
    missing = [c for c in (variant, *STEPS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{missing[0]}: column is missing; the funnel needs {', '.join(STEPS)}")
    flags = np.logical_and.accumulate(frame[list(STEPS)].to_numpy() > 0, axis=1)
    reached = pd.DataFrame(flags, columns=list(STEPS)).groupby(
        frame[variant].astype(str).to_numpy(), sort=False
    )
    sums = reached.sum()
    sizes = reached.size()
    return [
        FunnelCounts(str(name), int(sizes[name]), tuple(int(v) for v in sums.loc[name]))
        for name in sums.index
    ]


@dataclass(frozen=True)
class StepOut:
    step: str
    variant: str
    reached: int
    rate: float | None  # of all users
    ci_rate: tuple[float, float] | None
    step_rate: float | None  # of users who reached the step before
    ci_step_rate: tuple[float, float] | None


@dataclass(frozen=True)
class StepLift:
    step: str
    variant: str
    control: str
    step_rate: Comparison | None
    rate: Comparison | None
    note: str | None


@dataclass(frozen=True)
class FunnelReport:
    steps: list[str]
    control: str
    alpha: float
    rows: list[StepOut]
    lifts: list[StepLift]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    def to_markdown(self) -> str:
        lines = [
            "## Funnel (view → click → cart → purchase)",
            "",
            "A step counts users who did it and every earlier step in the outcome window; "
            f"intervals {1 - self.alpha:.0%} (Wilson for rates, Wald for differences).",
            "",
            "| step | variant | users | of all | step rate | step-rate lift vs control |",
            "|---|---|---|---|---|---|",
        ]
        lifts = {(lift.step, lift.variant): lift for lift in self.lifts}
        for r in self.rows:
            lift = lifts.get((r.step, r.variant))
            cmp = lift.step_rate if lift else None
            lift_text = (
                f"{cmp.difference:+.4f} [{cmp.ci_difference[0]:+.4f}, {cmp.ci_difference[1]:+.4f}]"
                if cmp
                else ("control" if r.variant == self.control else (lift.note if lift else ""))
            )
            lines.append(
                f"| {r.step} | {r.variant} | {r.reached} | {_pct(r.rate, r.ci_rate)} | "
                f"{_pct(r.step_rate, r.ci_step_rate)} | {lift_text} |"
            )
        return "\n".join(lines) + "\n"


def _pct(value: float | None, ci: tuple[float, float] | None) -> str:
    if value is None or ci is None:
        return "–"
    return f"{value:.2%} [{ci[0]:.2%}, {ci[1]:.2%}]"


def _compare(
    names: tuple[str, str], control: tuple[int, int], treated: tuple[int, int], alpha: float
) -> Comparison | None:
    (n_c, k_c), (n_t, k_t) = control, treated
    if n_c == 0 or n_t == 0:
        return None
    return two_proportion_ztest(
        ConversionVariant(names[0], n_c, k_c), ConversionVariant(names[1], n_t, k_t), alpha
    )


def funnel(counts: Sequence[FunnelCounts], control: str, alpha: float = 0.05) -> FunnelReport:
    """Rates with intervals per variant and step, and each variant's lift over ``control`` at each step."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be strictly between 0 and 1, got {alpha!r}")
    by_name = {c.variant: c for c in counts}
    if len(by_name) != len(counts):
        raise ValueError("funnel: each variant must appear once")
    if control not in by_name:
        raise ValueError(f"control: {control!r} is not a variant of the funnel ({', '.join(by_name)})")
    rows: list[StepOut] = []
    lifts: list[StepLift] = []
    base = by_name[control]
    for k, step in enumerate(STEPS):
        for c in counts:
            before = c.users if k == 0 else c.reached[k - 1]
            rows.append(
                StepOut(
                    step, c.variant, c.reached[k],
                    c.reached[k] / c.users if c.users else None, wilson(c.reached[k], c.users, alpha),
                    c.reached[k] / before if before else None, wilson(c.reached[k], before, alpha),
                )
            )  # fmt: skip
            if c.variant == control:
                continue
            base_before = base.users if k == 0 else base.reached[k - 1]
            step_cmp = _compare(
                (control, c.variant), (base_before, base.reached[k]), (before, c.reached[k]), alpha
            )
            rate_cmp = _compare(
                (control, c.variant), (base.users, base.reached[k]), (c.users, c.reached[k]), alpha
            )
            note = None if step_cmp else "no users reached the step before in one arm: no step-rate lift"
            lifts.append(StepLift(step, c.variant, control, step_cmp, rate_cmp, note))
    return FunnelReport(list(STEPS), control, alpha, rows, lifts)


__all__ = ["STEPS", "FunnelCounts", "FunnelReport", "funnel", "funnel_counts", "json_safe", "wilson"]
