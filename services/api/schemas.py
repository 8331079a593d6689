"""Request and response bodies. Field constraints are the validation; examples feed /docs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from services.api.bounds import COST_RULE, MAX_BUDGET, MAX_MONEY, MIN_COST, MIN_VALUE, Exploration

_EXAMPLE_USER: dict[str, Any] = {
    "user_id": "u123",
    "features": {
        "age": 34, "tenure_days": 420, "sessions_30d": 6, "cart_adds_30d": 2, "days_since_purchase": 12,
        "avg_order_value": 48.5, "discount_affinity": 0.7, "email_opt_in": 1, "loyalty_tier": "bronze",
        "device": "mobile", "region": "south", "channel": "paid_search", "noise_numeric": 0.1, "noise_category": "x",
    },
}  # fmt: skip


def _whole(v: Any) -> Any:
    # JSON Schema counts 7.0 as an integer, and so may a client; strict mode still refuses true.
    return int(v) if isinstance(v, float) and v.is_integer() else v


# Integer fields of the strict models: a whole float is taken, a boolean or a fraction is not.
# (The bounds go before the validator, or the JSON schema loses them.)
Seed = Annotated[int, Field(ge=0, le=2**63 - 1), BeforeValidator(_whole)]
PolicyTopK = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole)]
# A sandbox's name: a short token (the dashboard makes one per visitor session).
SandboxName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Decide from and record into the sandbox of this name (bandit state production never "
        "reads; not written to the assignment log). 1-40 letters, digits, _ or -.",
    ),
]
RecommendTopK = Annotated[int, Field(ge=1, le=1000), BeforeValidator(_whole)]


class Strict(BaseModel):
    # strict: no lax coercions (false for a seed, "3" for a count); a JSON int still fits a float.
    model_config = ConfigDict(extra="forbid", strict=True)


class UserIn(Strict):
    user_id: str = Field(min_length=1, max_length=200)
    features: dict[str, Any]


class UsersRequest(Strict):
    # The scoring requests: one user or a bounded batch (the bound is a setting, checked per request).
    users: list[UserIn] = Field(min_length=1)


class PredictRequest(UsersRequest):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"users": [_EXAMPLE_USER]}]}
    )
    interval: float | None = Field(
        default=None,
        ge=0.01,
        le=0.999,
        description="Also return an interval of each user's effect at this coverage (e.g. 0.9), from the "
        "model's per-user effect samples: a model-based uncertainty, not an observed figure.",
    )


class UserPrediction(BaseModel):
    user_id: str
    cate: float = Field(description="Effect of the best treatment arm on the outcome (treated − control).")
    effects: dict[str, float] = Field(description="Effect of every treatment arm against control.")
    p_treated: float = Field(description="Predicted outcome under the best treatment arm.")
    p_control: float
    segment: Literal["Persuadable", "Neutral", "Sleeping Dog"]
    effect_intervals: dict[str, tuple[float, float]] | None = Field(
        default=None,
        description="With `interval`: [low, high] of every treatment arm's effect (predicted, model-based).",
    )


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[UserPrediction]


class Policy(Strict):
    budget: float = Field(
        ge=0,
        le=MAX_BUDGET,
        allow_inf_nan=False,
        description="Most that may be spent on treatments in this request.",
    )
    cost_per_treatment: float = Field(
        ge=0,
        le=MAX_MONEY,
        allow_inf_nan=False,
        description=f"{COST_RULE}.",
        # The schema states the gap the validator below refuses, so a schema-valid cost is accepted.
        json_schema_extra={"not": {"exclusiveMinimum": 0, "exclusiveMaximum": MIN_COST}},
    )
    value_per_conversion: float = Field(ge=MIN_VALUE, le=MAX_MONEY, allow_inf_nan=False)
    seed: Seed | None = Field(default=None, description="Seed of the Thompson draws.")
    top_k: PolicyTopK | None = None
    exploration: Exploration = Field(
        default=0.0,
        description="Share of decisions drawn uniformly among the arms instead of by the policy, so every "
        "arm keeps at least exploration / arms probability for every user (included in the logged "
        "propensity). It lets the log evaluate policies that differ from the served one (treat-all, "
        "treat-none) and teach a retrain about users the policy never varies; it costs what those draws "
        "give away. The budget still caps the treatments.",
    )

    @field_validator("cost_per_treatment")
    @classmethod
    def _cost(cls, v: float) -> float:
        if v != 0 and v < MIN_COST:
            raise ValueError(COST_RULE)
        return v


class OptimizeRequest(UsersRequest):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "users": [_EXAMPLE_USER],
                    "policy": {
                        "budget": 100.0,
                        "cost_per_treatment": 0.5,
                        "value_per_conversion": 20.0,
                        "seed": 7,
                    },
                }
            ],
            # A policy (with its own seed, and optionally a sandbox), or a campaign whose terms stand in
            # for it (with a top-level seed, never a sandbox): the rules a 422 names, stated here too.
            "anyOf": [
                {
                    "required": ["policy"],
                    "properties": {
                        "policy": {"type": "object"},
                        "campaign_id": {"type": "null"},
                        "seed": {"type": "null"},
                    },
                },
                {
                    "required": ["campaign_id"],
                    "properties": {
                        "campaign_id": {"type": "string"},
                        "policy": {"type": "null"},
                        "sandbox": {"type": "null"},
                    },
                },
            ],
        },
    )
    policy: Policy | None = Field(
        default=None,
        description="A per-request policy (simulations, the dashboard). Exactly one of policy "
        "and campaign_id.",
    )
    campaign_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Spend from this campaign (value, cost and pacing are the campaign's). Exactly one of "
        "policy and campaign_id.",
    )
    seed: Seed | None = Field(
        default=None, description="Seed of the draws, with campaign_id (a policy has its own)."
    )
    sandbox: SandboxName | None = None


class Decision(BaseModel):
    user_id: str
    arm: str
    assignment_id: str
    propensity: float = Field(description="Probability this policy picks this arm for this user.")
    cate: float
    effects: dict[str, float]
    segment: str
    items: list[str] = Field(
        description="Ranker's top items for the recommendation arm, top sellers for control."
    )


class PolicyTotals(BaseModel):
    treated: int
    incremental_conversions: float
    cost: float
    profit: float
    roi: float | None


class OptimizeResponse(BaseModel):
    model_version: str
    seed: int
    campaign_id: str | None = None
    sandbox: str | None = None
    decisions: list[Decision]
    policy: PolicyTotals
    treat_all: PolicyTotals
    random: PolicyTotals


class RecommendRequest(Strict):
    user_id: str = Field(min_length=1, max_length=200)
    features: dict[str, Any]
    candidates: list[str] | None = Field(default=None, min_length=1, max_length=10_000)
    top_k: RecommendTopK = 10


class ScoredItem(BaseModel):
    item_id: str
    score: float


class RecommendResponse(BaseModel):
    model_version: str
    user_id: str
    items: list[ScoredItem]


class FeedbackRequest(Strict):
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"examples": [{"assignment_id": "…", "reward": 1}]}
    )
    assignment_id: str = Field(min_length=1, max_length=100)
    reward: Literal[0, 1]
    sandbox: SandboxName | None = Field(
        default=None,
        description="The sandbox the assignment was made in (no API key needed: it writes only there).",
    )


class FeedbackResponse(BaseModel):
    assignment_id: str
    status: Literal["applied", "duplicate"]
    segment: str
    arm: str


class ArmPosterior(BaseModel):
    segment: str
    arm: str
    alpha: float
    beta: float
    successes: int
    failures: int
    mean: float
    ci_low: float
    ci_high: float
    prob_best: float
    expected_loss: float


class ArmCalibrationOut(BaseModel):
    segment: str
    arm: str
    n: int = Field(description="Rewards with a stored prediction.")
    observed_minus_predicted: float | None = Field(
        description="Mean of reward − the model's predicted outcome for the arm given (null before any)."
    )
    ci_low: float | None
    ci_high: float | None
    shift_mean: float | None = Field(
        description="Treatment arms: the segment's effect error (true − predicted effect), estimated from "
        "the rewards weighted by the inverse of their logged propensities (null before any)."
    )
    shift_sd: float | None = Field(
        description="Its standard error; each decision draws the segment's shift from the normal posterior "
        "of this estimate and the prior N(0, calibration_prior_sd²) (null before any reward)."
    )


class BanditResponse(BaseModel):
    backend: str
    prior_strength: float
    sandbox: str | None = None
    calibration_prior_sd: float
    arms: list[ArmPosterior]
    calibration: list[ArmCalibrationOut]
