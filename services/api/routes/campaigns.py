"""Campaigns: a budget and/or treated-share cap that /optimize spends across requests and replicas.

Every ledger and log call goes through ``state.guard`` (off the loop, bounded, 503 while the store
is out); the estimates (a bootstrap) run in the thread pool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from services.api import campaign_reports
from services.api.bounds import check_cost
from services.api.campaign_gate import unknown
from services.api.campaign_schemas import (
    CampaignCreate,
    CampaignCreated,
    CampaignDetail,
    CampaignEvaluation,
    CampaignList,
    CampaignOut,
)
from services.api.deps import ApiKey, StateDep
from services.api.openapi_errors import ErrorBody
from services.api.state import AppState
from shared.campaigns import CampaignLedger, CampaignSpec, CampaignView, UnknownCampaign, progress, throttle
from shared.schema import SchemaError

router = APIRouter(tags=["campaigns"])

CampaignId = Annotated[
    str, Path(min_length=1, max_length=100, description="The id POST /campaigns returned.")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No campaign has this id."}
}
# Estimates of a campaign's figures on GET /campaigns/{id}: a quick bootstrap, a fixed seed.
DETAIL_BOOTSTRAP = 200


def _spec(body: CampaignCreate) -> CampaignSpec:
    if body.budget is not None:
        check_cost(body.cost_per_treatment)
    if body.ends_at is not None and body.ends_at.tzinfo is not None and body.ends_at <= datetime.now(UTC):
        raise SchemaError("ends_at", "must be in the future")
    try:
        return CampaignSpec(**body.model_dump())
    except ValueError as exc:  # "field: rule", from the record's own checks
        field, _, rule = str(exc).partition(": ")
        raise SchemaError(field, rule) from None


def _ledger(state: AppState) -> CampaignLedger:
    ledger: CampaignLedger = state.campaigns
    return ledger


async def _view(state: AppState, campaign_id: str) -> CampaignView:
    ledger = _ledger(state)
    try:
        return await state.guard.call(lambda: ledger.get(campaign_id), "campaign")
    except UnknownCampaign:
        raise unknown(campaign_id) from None


def _out(view: CampaignView) -> dict[str, Any]:
    c, spec, n = view.campaign, view.campaign.spec, view.counters
    now = datetime.now(UTC)
    return {
        "campaign_id": c.campaign_id,
        "status": c.status,
        "created_at": c.created_at,
        "closed_at": c.closed_at,
        **spec.to_dict(),
        "ends_at": spec.ends_at,
        "spend": view.spend,
        "reserved": view.reserved_spend,
        "remaining": view.remaining,
        "users": n.users,
        "treated": n.treated,
        "progress": progress(view, now),
        "throttle": throttle(view, now) if c.status == "open" else 0.0,
    }


@router.post("/campaigns", status_code=201, response_model=CampaignCreated, dependencies=[ApiKey])
async def create(body: CampaignCreate, state: StateDep) -> CampaignCreated:
    """Open a campaign: /optimize with its `campaign_id` spends from it, paced to its end.

    A budget buys floor(budget / cost_per_treatment) treatments; spent + reserved never exceeds it
    across workers and replicas. Pacing spreads it over `ends_at` or `expected_users`.
    """
    spec = _spec(body)
    ledger = _ledger(state)
    now = datetime.now(UTC)
    campaign = await state.guard.call(lambda: ledger.create(spec, now), "create campaign", writes=True)
    return CampaignCreated(campaign_id=campaign.campaign_id)


@router.api_route("/campaigns", methods=["PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False)
async def other_methods() -> JSONResponse:
    """405 with both methods in Allow: for a method no route takes, Starlette answers with the first
    route's methods alone, and this path has two (GET and POST)."""
    return JSONResponse(
        {"detail": [{"field": "path", "rule": "Method Not Allowed"}]},
        status_code=405,
        headers={"Allow": "GET, POST"},
    )


@router.get("/campaigns", response_model=CampaignList)
async def list_campaigns(state: StateDep) -> CampaignList:
    """Every campaign, oldest first, with its spend and pacing."""
    ledger = _ledger(state)
    views = await state.guard.call(ledger.list, "campaigns")
    return CampaignList(campaigns=[CampaignOut(**_out(v)) for v in views])


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetail, responses=_NOT_FOUND)
async def get_campaign(
    campaign_id: CampaignId,
    state: StateDep,
    level: Annotated[float, Query(gt=0, lt=1, description="Coverage of the interval.")] = 0.9,
) -> CampaignDetail:
    """Spend, reservations, users, treated, rewards, the pacing throttle, and the estimated
    incremental conversions (served policy − treat-none, from the campaign's log) with an interval."""
    view = await _view(state, campaign_id)
    entries = await _entries(state, campaign_id)
    model = state.model
    interval, notes = await run_in_threadpool(
        campaign_reports.incremental,
        entries,
        model,
        campaign_id,
        view.counters.users,
        level,
        DETAIL_BOOTSTRAP,
        0,
    )
    detail = {**_out(view), "rewards": campaign_reports.rewards(entries)}
    return CampaignDetail.model_validate({**detail, "incremental_conversions": interval, "notes": notes})


@router.post(
    "/campaigns/{campaign_id}/close", response_model=CampaignOut, responses=_NOT_FOUND, dependencies=[ApiKey]
)
async def close(campaign_id: CampaignId, state: StateDep) -> CampaignOut:
    """Stop the campaign: /optimize with it answers 409 from now on; feedback for its assignments is
    still recorded, and requests already in flight settle. Closing twice is a no-op."""
    ledger = _ledger(state)
    now = datetime.now(UTC)
    try:
        view = await state.guard.call(
            lambda: ledger.close_campaign(campaign_id, now), "close campaign", writes=True
        )
    except UnknownCampaign:
        raise unknown(campaign_id) from None
    return CampaignOut(**_out(view))


@router.get("/campaigns/{campaign_id}/evaluation", response_model=CampaignEvaluation, responses=_NOT_FOUND)
async def evaluation(
    campaign_id: CampaignId,
    state: StateDep,
    level: Annotated[float, Query(gt=0, lt=1, description="Coverage of the bootstrap intervals.")] = 0.9,
    bootstrap: Annotated[int, Query(ge=2, le=5000, description="Bootstrap resamples per interval.")] = 500,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1, description="Seed of the bootstrap (echoed).")] = 0,
) -> CampaignEvaluation:
    """Off-policy estimates (IPS, self-normalized IPS, doubly robust with the served model as the
    direct method) of the served (logged) policy, treat-all, treat-none and the model's greedy
    policy at the campaign's value and cost, from the campaign's rewarded assignments; bootstrap
    intervals, effective sample sizes and a warning where propensities are too small to trust."""
    view = await _view(state, campaign_id)
    entries = await _entries(state, campaign_id)
    spec = view.campaign.spec
    body = await run_in_threadpool(
        lambda: campaign_reports.evaluation(
            entries,
            state.model,
            campaign_id,
            view.counters.users,
            value=spec.value_per_conversion,
            cost=spec.cost_per_treatment,
            level=level,
            n_bootstrap=bootstrap,
            seed=seed,
        )
    )
    return CampaignEvaluation(**body)


async def _entries(state: AppState, campaign_id: str) -> list[Any]:
    log = state.assignment_log
    return await state.guard.call(lambda: list(log.iter_rows(campaign_id=campaign_id)), "assignment log")
