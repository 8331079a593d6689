"""Optional funnel and daily-trend parts of POST /experiments/analyze (request counts, response sections)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_DAILY_CELLS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class FunnelCountsIn(_Strict):
    """Users of one variant and how many reached each step *and every earlier one* (non-increasing)."""

    variant: str = Field(min_length=1, max_length=200)
    users: int = Field(ge=0)
    viewed: int = Field(ge=0)
    clicked: int = Field(ge=0)
    added_to_cart: int = Field(ge=0)
    purchased: int = Field(ge=0)


class DailyCellIn(_Strict):
    """One variant on one exposure day: users and the metric's sum (conversions for a binary metric)."""

    day: str = Field(min_length=1, max_length=40, description="Exposure day, e.g. 2024-01-31.")
    variant: str = Field(min_length=1, max_length=200)
    users: int = Field(ge=0)
    total: float = Field(description="Sum of the metric (conversions when binary).")
    total_squares: float | None = Field(
        default=None, ge=0, description="Sum of squares; required when continuous."
    )


class TrendComparisonOut(BaseModel):
    """shared.stats.Comparison (a copy of ComparisonOut: importing it would make the two modules circular)."""

    variant: str
    control: str
    test: str
    difference: float
    ci_difference: tuple[float, float]
    relative_lift: float | None
    ci_relative_lift: tuple[float, float] | None
    statistic: float | None
    p_value: float
    p_value_holm: float
    df: float | None
    note: str | None


class FunnelRowOut(BaseModel):
    step: str
    variant: str
    reached: int
    rate: float | None = Field(description="Share of all the variant's users who reached the step.")
    ci_rate: tuple[float, float] | None
    step_rate: float | None = Field(description="Share of those who reached the step before.")
    ci_step_rate: tuple[float, float] | None


class StepLiftOut(BaseModel):
    step: str
    variant: str
    control: str
    step_rate: TrendComparisonOut | None
    rate: TrendComparisonOut | None
    note: str | None


class FunnelOut(BaseModel):
    steps: list[str]
    control: str
    alpha: float
    rows: list[FunnelRowOut]
    lifts: list[StepLiftOut]


class DayPointOut(BaseModel):
    day: str
    variant: str
    users: int
    mean: float | None
    ci: tuple[float, float] | None
    vs_control: TrendComparisonOut | None


class DailyOut(BaseModel):
    metric: str
    metric_type: Literal["binary", "continuous"]
    control: str
    alpha: float
    points: list[DayPointOut]
