from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.api.deps import ApiKeyHeader, StateDep, check_api_key
from services.api.metrics import REWARDS
from services.api.schemas import FeedbackRequest, FeedbackResponse
from services.api.state import AppState
from shared.bandit import PRODUCTION, RewardResult, UnknownAssignment
from shared.bandit.contexts import segment_of

router = APIRouter(tags=["bandit"])


@router.post("/feedback", response_model=FeedbackResponse)
async def feedback(
    body: FeedbackRequest, state: StateDep, x_api_key: ApiKeyHeader = None
) -> FeedbackResponse:
    """Reward for an assignment: committed to the store and the log before the 2xx; a repeat is a no-op.

    The reward moves the assignment's segment × arm counts and calibration (reward − the outcome
    the model predicted for that arm). With `sandbox`, the assignment is looked up in that sandbox
    only and the reward changes nothing else, so no API key is needed; feedback to production
    needs the key when the server has one. A 503 (store out or too slow) may still have applied the
    reward: send it again, a repeat is answered as a duplicate (and completes the log).
    """
    space = PRODUCTION if body.sandbox is None else f"sandbox:{body.sandbox}"
    if space == PRODUCTION:
        check_api_key(state, x_api_key)
    try:
        result = await state.guard.call(lambda: _record(state, body, space), "record_reward", writes=True)
    except UnknownAssignment:
        where = "" if body.sandbox is None else f" in sandbox {body.sandbox!r}"
        raise HTTPException(
            404,
            detail=[
                {
                    "field": "assignment_id",
                    "rule": f"no assignment with this id{where} (never issued or expired)",
                }
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
        REWARDS.labels(segment_of(result.context), result.arm, str(body.reward)).inc()
    return FeedbackResponse(
        assignment_id=body.assignment_id,
        status=result.status,
        segment=segment_of(result.context),
        arm=result.arm,
    )


def _record(state: AppState, body: FeedbackRequest, space: str) -> RewardResult:
    """The store's reward, then the log's (production only) on the same thread, in one guarded call.

    A duplicate writes the log too: a reward whose log write failed after the store's is completed
    by the client's retry (the log keeps the first reward and answers a repeat as a duplicate).
    """
    result = state.store.record_reward(body.assignment_id, body.reward, space)
    if space == PRODUCTION and result.status in ("applied", "duplicate"):
        state.assignment_log.reward(body.assignment_id, float(body.reward))
    return result
