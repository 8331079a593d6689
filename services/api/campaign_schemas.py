"""Bodies of the campaign routes: what a client sends to open a campaign, and what it reads back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.api.bounds import COST_RULE, MAX_BUDGET, MAX_MONEY, MIN_VALUE, Exploration


class CampaignCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "spring-recs",
                    "budget": 500.0,
                    "cost_per_treatment": 0.5,
                    "value_per_conversion": 20.0,
                    "expected_users": 20000,
                }
            ],
            # A budget, a share cap, or both (the rule a 422 on `budget` names).
            "anyOf": [
                {"required": ["budget"], "properties": {"budget": {"type": "number"}}},
                {"required": ["max_treated_share"], "properties": {"max_treated_share": {"type": "number"}}},
            ],
        },
    )
    name: str = Field(min_length=1, max_length=200)
    budget: float | None = Field(
        default=None,
        ge=0,
        le=MAX_BUDGET,
        allow_inf_nan=False,
        description="Most the campaign may ever spend on treatments (spent + reserved never exceeds it).",
    )
    max_treated_share: float | None = Field(
        default=None, ge=0, le=1, allow_inf_nan=False, description="Most treated users per user served."
    )
    cost_per_treatment: float = Field(ge=0, le=MAX_MONEY, allow_inf_nan=False, description=f"{COST_RULE}.")
    value_per_conversion: float = Field(ge=MIN_VALUE, le=MAX_MONEY, allow_inf_nan=False)
    # A JSON string is the only way to send a time, so this one field takes an ISO 8601 string.
    ends_at: datetime | None = Field(
        default=None,
        strict=False,
        description="When the campaign ends (ISO 8601 with a time zone); pacing spreads the budget to it.",
    )
    expected_users: int | None = Field(
        default=None,
        ge=1,
        le=10**12,
        description="Users expected over the campaign; pacing spreads the budget over them.",
    )
    sandbox: bool = Field(default=False, description="A test campaign: flagged in its log and reports.")
    exploration: Exploration = Field(
        default=0.0,
        description="Share of decisions drawn uniformly among the arms (an exploration floor, in the logged "
        "propensity), so the campaign's log can evaluate other policies; the budget still caps treatments.",
    )


class CampaignCreated(BaseModel):
    campaign_id: str


class Interval(BaseModel):
    value: float
    low: float
    high: float
    level: float
    rows: int = Field(description="Rewarded assignments the estimate rests on.")


class Rewards(BaseModel):
    received: int = Field(description="Assignments of this campaign with feedback so far.")
    total: float = Field(description="Sum of those rewards (conversions, for a 0/1 reward).")


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    status: Literal["open", "closed"]
    created_at: datetime
    closed_at: datetime | None
    ends_at: datetime | None
    expected_users: int | None
    sandbox: bool
    budget: float | None
    max_treated_share: float | None
    cost_per_treatment: float
    value_per_conversion: float
    exploration: float
    spend: float = Field(description="cost_per_treatment × treated.")
    reserved: float = Field(description="Money held by /optimize requests in flight.")
    remaining: float | None = Field(description="budget − spend − reserved; null without a budget.")
    users: int
    treated: int
    progress: float | None = Field(description="Share of the time or of the expected users done.")
    throttle: float = Field(description="Share of treatment probability pacing moves to control now.")


class CampaignDetail(CampaignOut):
    rewards: Rewards
    incremental_conversions: Interval | None = Field(
        description="Served policy minus treat-none, per user (DR with the served model) × users; "
        "null until feedback has arrived for both arms' users."
    )
    notes: list[str]


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]


class Estimate(BaseModel):
    estimator: Literal["ips", "snips", "dr"]
    value: float = Field(description="Mean reward per user under the policy.")
    low: float
    high: float
    level: float
    n: int
    ess: float = Field(description="Effective sample size of the importance weights.")
    n_bootstrap: int
    seed: int
    warnings: list[str]
    bootstrap_low: float = Field(
        description="The percentile bootstrap of the logged rows alone. DR's low/high also carry the "
        "variance of the corrections the logging policy could have drawn where it rarely gave the "
        "policy's arm, and are cut to the rewards' range; this narrower interval holds only if the model "
        "is right there, and is not cut."
    )
    bootstrap_high: float


class PolicyEvaluation(BaseModel):
    policy: str = Field(description="logged (the served policy), treat-all, treat-none, or model <version>.")
    direct_method: str
    estimates: list[Estimate]
    notes: list[str]


class CampaignEvaluation(BaseModel):
    campaign_id: str
    model_version: str | None
    rows: int = Field(description="Rewarded assignments used.")
    unrewarded_rows: int = Field(description="Assignments without feedback yet (left out).")
    arms: list[str]
    seed: int
    level: float
    policies: list[PolicyEvaluation]
    incremental_conversions: Interval | None
    notes: list[str]
