"""Request and response bodies of POST /experiments/analyze (the dashboard's analysis page relies on them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.trend_schemas import MAX_DAILY_CELLS, DailyCellIn, DailyOut, FunnelCountsIn, FunnelOut

MAX_ROWS = 100_000
MAX_VARIANTS = 50


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class VariantCounts(_Strict):
    """Summary of one variant: ``conversions`` for a binary metric, ``sum``/``sum_squares`` for a continuous one."""

    name: str = Field(min_length=1, max_length=200)
    users: int = Field(ge=0)
    conversions: int | None = Field(default=None, ge=0)
    sum: float | None = None
    sum_squares: float | None = Field(default=None, ge=0)


class RowIn(_Strict):
    variant: str = Field(min_length=1, max_length=200)
    value: float
    pre: float | None = Field(default=None, description="Pre-period covariate for CUPED (all rows or none).")


_EXAMPLE: dict[str, Any] = {
    "metric_type": "binary",
    "control": "A",
    "allocation": {"A": 0.5, "B": 0.5},
    "variants": [
        {"name": "A", "users": 10000, "conversions": 1000},
        {"name": "B", "users": 10050, "conversions": 1100},
    ],
    "alpha": 0.05,
}


class AnalyzeRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, strict=True, json_schema_extra={"examples": [_EXAMPLE]}
    )
    metric_type: Literal["binary", "continuous"]
    metric: str = Field(
        default="metric", min_length=1, max_length=200, description="Name shown in the report."
    )
    control: str | None = Field(default=None, description="Control variant; default: the first one.")
    allocation: dict[str, float] | None = Field(
        default=None, description="Planned share per variant (normalized)."
    )
    variants: list[VariantCounts] | None = Field(default=None, max_length=MAX_VARIANTS)
    rows: list[RowIn] | None = Field(default=None, max_length=MAX_ROWS)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    override_srm: bool = False
    tau: float | None = Field(
        default=None, gt=0, description="mSPRT mixture scale; default 10% of control mean."
    )
    loss_threshold: float | None = Field(
        default=None, gt=0, description="Expected loss that stops the Bayesian rule."
    )
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Echoed; the analysis draws no random numbers."
    )
    funnel: list[FunnelCountsIn] | None = Field(
        default=None,
        max_length=MAX_VARIANTS,
        description="Funnel counts per variant: adds the funnel section.",
    )
    daily: list[DailyCellIn] | None = Field(
        default=None,
        max_length=MAX_DAILY_CELLS,
        description="Per exposure day and variant: adds the daily trend.",
    )


class VariantOut(BaseModel):
    name: str
    users: int
    mean: float
    sd: float
    conversions: int | None
    total: float | None


class SrmOut(BaseModel):
    chi2: float
    p_value: float
    ok: bool
    threshold: float
    observed: dict[str, int]
    expected: dict[str, float]
    allocation: dict[str, float]
    allocation_assumed: bool


class HealthOut(BaseModel):
    name: str
    ok: bool
    detail: str


class ComparisonOut(BaseModel):
    variant: str
    control: str
    test: str
    difference: float
    ci_difference: tuple[float, float]
    relative_lift: float | None
    ci_relative_lift: tuple[float, float] | None
    statistic: float | None = Field(description="null when infinite (no variance but a difference).")
    p_value: float
    p_value_holm: float
    df: float | None
    note: str | None


class PosteriorOut(BaseModel):
    name: str
    distribution: str = Field(description="Human-readable posterior, e.g. 'Beta(121, 881)'.")
    family: Literal["beta", "normal"]
    params: dict[str, float] = Field(description="alpha/beta for 'beta', mean/sd for 'normal'.")
    mean: float
    ci: tuple[float, float]
    prob_best: float
    expected_loss: float


class IntervalOut(BaseModel):
    estimate: float
    low: float
    high: float


class LiftOut(BaseModel):
    variant: str
    control: str
    prob_beats_control: float
    absolute: IntervalOut
    relative: IntervalOut | None


class BayesianOut(BaseModel):
    model: str
    prior: str
    level: float
    variants: list[PosteriorOut]
    lifts: list[LiftOut]
    note: str | None


class CupedOut(BaseModel):
    covariates: list[str]
    theta: list[float]
    variance_reduction: float
    comparisons: list[ComparisonOut]


class SequentialTestOut(BaseModel):
    variant: str
    control: str
    tau: float
    log_likelihood_ratio: float
    p_value_always_valid: float
    reject: bool


class SequentialOut(BaseModel):
    tau: float
    tau_rule: str
    loss_threshold: float
    tests: list[SequentialTestOut]
    bayesian_stop: bool
    bayesian_choice: str


class DecisionOut(BaseModel):
    outcome: Literal["ship", "keep control", "keep running", "withheld"]
    winner: str | None
    reason: str


class AnalyzeResponse(BaseModel):
    metric: str
    metric_type: Literal["binary", "continuous"]
    control: str
    alpha: float
    seed: int | None
    variants: list[VariantOut]
    srm: SrmOut
    health: list[HealthOut]
    effects_withheld: bool = Field(description="true when the sample-ratio check failed without override.")
    frequentist: list[ComparisonOut] | None
    bayesian: BayesianOut | None
    cuped: CupedOut | None
    sequential: SequentialOut | None
    decision: DecisionOut
    caveats: list[str]
    funnel: FunnelOut | None = None
    daily: DailyOut | None = None
    markdown: str = Field(description="The same report rendered as Markdown.")
