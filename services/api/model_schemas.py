"""Typed answers of the read-only ``/model*`` routes: the API declares them, the dashboard parses them.

One definition on both sides of the wire: a field renamed here breaks the route's response
validation and the dashboard's parse alike, in a test, instead of a ``KeyError`` on a page.
Only pydantic and the artifact types are imported, so the dashboard can load this without FastAPI.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from shared.artifacts import DataDescription, EffectScale, RankerSpec, SegmentThresholds, UpliftModelSpec
from shared.schema import FeatureSchema


class _Answer(BaseModel):
    # Unknown fields are ignored (an older dashboard reads a newer API); missing ones fail loudly.
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class Verdict(_Answer):
    """The held-out verdict over all arms (services.trainer.verdict.overall_verdict)."""

    signal: bool
    weak_arms: list[str]
    message: str
    rule: str


class Calibration(_Answer):
    """``learner.calibration`` of GET /model and /model/evaluation: absent for models trained before it,
    and for the paths it does not run on (observational data, a retrain from a log, Dask, out of core)."""

    fitted_on: str
    rule: str
    arms: list[EffectScale]

    @classmethod
    def of(cls, learner: dict[str, Any] | None) -> Calibration | None:
        raw = (learner or {}).get("calibration")
        return None if raw is None else cls.model_validate(raw)


class ModelInfo(_Answer):
    """GET /model: the serving version's manifest (without its file checksums) and how it is served."""

    format_version: int
    version: str
    created_at: str
    library_versions: dict[str, str]
    data: DataDescription
    features: FeatureSchema
    segments: SegmentThresholds
    uplift_model: UpliftModelSpec
    ranker: RankerSpec | None = None
    metrics: dict[str, Any]
    learner: dict[str, Any]
    # None for a model trained before the verdict existed.
    verdict: Verdict | None
    bandit_priors: dict[str, dict[str, float]]
    serving_format: str
    onnx_parity_max_error: float | None
    has_ranker: bool
    ranker_format: str | None
    ranker_onnx_parity_max_error: float | None
    ranker_pair_parity_max_error: float | None


class Interval(_Answer):
    """A value with its bootstrap standard deviation and percentile interval at ``level``."""

    value: float
    sd: float
    low: float
    high: float
    level: float


class ComparedMetrics(_Answer):
    qini: Interval
    auuc: Interval
    # Absent when the top share holds a single arm (tiny data).
    uplift_at_10pct: Interval | None = None
    uplift_at_30pct: Interval | None = None


class Comparison(_Answer):
    chosen: ComparedMetrics
    t_learner: ComparedMetrics
    response_model: ComparedMetrics
    placebo: ComparedMetrics


class ArmVerdict(_Answer):
    signal: bool
    beats_response_model: bool
    notes: list[str]


class Decile(_Answer):
    bin: int
    uplift: float | None
    predicted: float
    n_t: int
    n_c: int


class ArmEvaluation(_Answer):
    """One treatment arm against control on the held-out split."""

    n_test: int
    qini: float
    qini_random: float
    qini_response_model: float
    qini_placebo: float | None = None
    qini_oracle: float | None = None
    qini_vs_oracle: float | None = None
    pearson_cate_truth: float | None = None
    uplift_at_10pct: float | None
    uplift_at_30pct: float | None
    ate_observed: float
    ate_predicted: float
    ate_true: float | None = None
    deciles: list[Decile]
    compare: Comparison | None = None
    verdict: ArmVerdict | None = None


class SegmentEvaluation(_Answer):
    lower: float
    upper: float
    shares: dict[str, float]
    true_shares: dict[str, float] | None = None
    vs_truth: dict[str, Any] | None = None


class RankerEvaluation(_Answer):
    ndcg10_model: float
    ndcg10_popularity: float
    items: int


class Evaluation(_Answer):
    """GET /model/evaluation: the trainer's held-out evaluation."""

    arms: dict[str, ArmEvaluation]
    segments: SegmentEvaluation
    outcome_kind: str = "binary"
    verdict: Verdict | None = None
    learner: dict[str, Any] | None = None
    ranker: RankerEvaluation | None = None
    warnings: list[str] = []


class Sample(_Answer):
    """GET /model/sample: held-out users as columns and row records."""

    columns: list[str]
    rows: list[dict[str, Any]]


class Totals(_Answer):
    treated: int
    incremental_conversions: float
    cost: float
    profit: float
    roi: float | None


class Observed(_Answer):
    """What held-out users observed under the chosen targeting (shared.metrics.observed)."""

    treated: int
    n_treated_arm: int
    n_control: int
    uplift: Interval
    uplift_everyone: Interval
    uplift_vs_everyone: Interval
    incremental: Interval
    profit: Interval
    profit_vs_random: Interval
    profit_treat_all: Interval
    profit_random: Interval
    seed: int
    n_boot: int


class ChosenPolicy(_Answer):
    """The policy's cut-off under the budget: its predicted totals against the baselines, and observed."""

    budget: float
    share: float
    policy: Totals
    treat_all: Totals
    random: Totals
    segment_mix: dict[str, int]
    observed: Observed


class PolicyCurve(_Answer):
    """GET /model/policy-curve. ``n_users`` 0 (no held-out sample) leaves every other field empty."""

    n_users: int
    # The users the figures stand for, and audience / n_users (1 without an audience).
    audience: int | None = None
    scale: float = 1.0
    lower: float | None = None
    upper: float | None = None
    share: list[float] = []
    profit: list[float] = []
    roi: list[float] = []
    random_profit: list[float] = []
    segment_mix: list[dict[str, int]] = []
    chosen: ChosenPolicy | None = None


class Line(_Answer):
    x: list[float]
    y: list[float]


class ArmCurves(_Answer):
    n_users: int
    qini: dict[str, Line]
    uplift: dict[str, Line]


class Curves(_Answer):
    """GET /model/curves: Qini and uplift curves per treatment arm (model, random, oracle if known)."""

    n_users: int
    arms: dict[str, ArmCurves]
