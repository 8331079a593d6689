from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.api.deps import ApiKey, StateDep
from services.api.metrics import REWARDS
from services.api.schemas import FeedbackRequest, FeedbackResponse
from shared.bandit import UnknownAssignment

router = APIRouter(tags=["bandit"])


@router.post("/feedback", response_model=FeedbackResponse, dependencies=[ApiKey])
async def feedback(body: FeedbackRequest, state: StateDep) -> FeedbackResponse:
    """Reward for an assignment: committed to the store before the 2xx; a repeat is a no-op.

    A 503 (store out or too slow) may still have applied the reward: send it again, a repeat is
    answered as a duplicate.
    """
    store = state.store
    try:
        result = await state.guard.call(
            lambda: store.record_reward(body.assignment_id, body.reward), "record_reward", writes=True
        )
    except UnknownAssignment:
        raise HTTPException(
            404,
            detail=[
                {"field": "assignment_id", "rule": "no assignment with this id (never issued or expired)"}
            ],
        ) from None
    if result.status == "conflict":
        raise HTTPException(
            409,
            detail=[
                {
                    "field": "reward",
                    "rule": f"this assignment already has reward {result.reward}; rewards are final",
                }
            ],
        )
    if result.status == "applied":
        REWARDS.labels(result.context, result.arm, str(body.reward)).inc()
    return FeedbackResponse(
        assignment_id=body.assignment_id, status=result.status, segment=result.context, arm=result.arm
    )
