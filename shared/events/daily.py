"""The daily metric per variant: users exposed each day, their mean outcome with an interval, and the
difference from the control that day (shared.stats: two-proportion z-test for a 0/1 metric, Welch's
t-test for an amount).

Days are exposure days (the UTC date of ``exposed_at``): each user counts once, on the day they
entered the experiment, so a day's cohort is followed for the same outcome window as every other.
A drifting daily effect (novelty, a broken release on one day) shows here while the pooled test hides it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from shared.events.funnel import json_safe, wilson
from shared.events.schema import EXPOSURE_DAY, VARIANT
from shared.stats import Comparison, ContinuousVariant, ConversionVariant, two_proportion_ztest, welch_ttest

MetricType = Literal["binary", "continuous"]


@dataclass(frozen=True)
class DayCell:
    """One variant on one day: users, sum of the metric and of its squares (conversions for 0/1)."""

    day: str
    variant: str
    users: int
    total: float
    total_squares: float

    def __post_init__(self) -> None:
        if self.users < 0:
            raise ValueError(f"{self.day}.{self.variant}.users: must be >= 0, got {self.users}")


def daily_cells(
    frame: pd.DataFrame, metric: str, variant: str = VARIANT, day: str = EXPOSURE_DAY
) -> list[DayCell]:
    """Per (day, variant) sums from a prepared table, days ascending."""
    for col in (variant, metric, day):
        if col not in frame.columns:
            raise ValueError(f"{col}: column is missing; the daily trend needs {variant}, {metric} and {day}")
    values = frame[metric].to_numpy(dtype=np.float64)
    parts = pd.DataFrame(
        {"d": frame[day].astype(str), "v": frame[variant].astype(str), "y": values, "y2": values**2}
    )
    sums = parts.groupby(["d", "v"], sort=True).agg(users=("y", "size"), total=("y", "sum"), sq=("y2", "sum"))
    users, total, sq = (sums[c].to_numpy() for c in ("users", "total", "sq"))
    return [
        DayCell(str(d), str(v), int(users[k]), float(total[k]), float(sq[k]))
        for k, (d, v) in enumerate(sums.index)
    ]


@dataclass(frozen=True)
class DayPoint:
    day: str
    variant: str
    users: int
    mean: float | None
    ci: tuple[float, float] | None
    vs_control: Comparison | None


@dataclass(frozen=True)
class DailyReport:
    metric: str
    metric_type: MetricType
    control: str
    alpha: float
    points: list[DayPoint]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))

    def to_markdown(self) -> str:
        lines = [
            f"## Daily {self.metric} per variant (by exposure day)",
            "",
            f"Intervals {1 - self.alpha:.0%}; the difference is against {self.control!r} on the same day.",
            "",
            "| day | variant | users | mean | difference vs control |",
            "|---|---|---|---|---|",
        ]
        for p in self.points:
            mean = "–" if p.mean is None or p.ci is None else f"{p.mean:.4g} [{p.ci[0]:.4g}, {p.ci[1]:.4g}]"
            c = p.vs_control
            diff = (
                ""
                if c is None
                else f"{c.difference:+.4g} [{c.ci_difference[0]:+.4g}, {c.ci_difference[1]:+.4g}]"
            )
            lines.append(f"| {p.day} | {p.variant} | {p.users} | {mean} | {diff} |")
        return "\n".join(lines) + "\n"


def _mean_ci(
    cell: DayCell, kind: MetricType, alpha: float
) -> tuple[float | None, tuple[float, float] | None]:
    if cell.users == 0:
        return None, None
    mean = cell.total / cell.users
    if kind == "binary":
        return mean, wilson(round(cell.total), cell.users, alpha)
    if cell.users < 2:
        return mean, None
    var = max(cell.total_squares - cell.users * mean**2, 0.0) / (cell.users - 1)
    half = float(stats.t.ppf(1 - alpha / 2, cell.users - 1)) * math.sqrt(var / cell.users)
    return mean, (mean - half, mean + half)


def _versus(control: DayCell, cell: DayCell, kind: MetricType, alpha: float) -> Comparison | None:
    try:
        if kind == "binary":
            c = ConversionVariant(control.variant, control.users, round(control.total))
            t = ConversionVariant(cell.variant, cell.users, round(cell.total))
            return two_proportion_ztest(c, t, alpha) if c.users and t.users else None
        ci = ContinuousVariant(control.variant, control.users, control.total, control.total_squares)
        ti = ContinuousVariant(cell.variant, cell.users, cell.total, cell.total_squares)
        return welch_ttest(ci, ti, alpha)
    except ValueError:
        return None  # too few users that day for the test: the point is shown without a difference


def daily(
    cells: Sequence[DayCell], control: str, metric: str, metric_type: MetricType, alpha: float = 0.05
) -> DailyReport:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be strictly between 0 and 1, got {alpha!r}")
    if metric_type == "binary":
        for cell in cells:
            if not (cell.total == round(cell.total) and 0 <= cell.total <= cell.users):
                raise ValueError(
                    f"{cell.day}.{cell.variant}.total: conversions must be a whole number in [0, users]"
                )
    by_key = {(c.day, c.variant): c for c in cells}
    if len(by_key) != len(cells):
        raise ValueError("daily: each (day, variant) must appear once")
    points = []
    for cell in sorted(cells, key=lambda c: (c.day, c.variant != control, c.variant)):
        mean, ci = _mean_ci(cell, metric_type, alpha)
        base = by_key.get((cell.day, control))
        vs = _versus(base, cell, metric_type, alpha) if base is not None and cell.variant != control else None
        points.append(DayPoint(cell.day, cell.variant, cell.users, mean, ci, vs))
    return DailyReport(metric, metric_type, control, alpha, points)


__all__ = ["DailyReport", "DayCell", "DayPoint", "daily", "daily_cells"]
