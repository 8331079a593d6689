from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api.batching import LoopBatcher
from services.api.body import json_body
from services.api.direct_route import DirectRoute
from services.api.optimizer import OptimizeJob, answer
from services.api.schemas import OptimizeRequest, OptimizeResponse
from services.api.scoring import BATCH_MAX_JOBS, answer_request
from services.api.state import AppState
from services.api.store_guard import StoreUnavailable

router = APIRouter(tags=["policy"], route_class=DirectRoute)


@router.post("/optimize", response_model=OptimizeResponse, openapi_extra=json_body(OptimizeRequest))
async def optimize(request: Request) -> Response:
    """Budgeted targeting plus a Thompson-sampled arm per user (context = segment).

    Each segment's posterior per arm starts from the model's own prediction (worth
    `prior_strength` observations) and learns from /feedback. An arm is drawn per user by
    θ·value − cost; users the budget cannot cover get control with propensity 1. The ranker's
    items go with the recommendation arm, top sellers with control.
    """
    # (Ranking on a second thread was measured too: the ranker releases the GIL, but the hand-offs
    # cost more CPU than the overlap saved.)
    return await answer_request(request, OptimizeRequest, _batcher, OptimizeJob, _alone)


async def _alone(state: AppState, make: Callable[[], OptimizeJob]) -> Response:
    """A large request: encoded and decided in the thread pool, the store through its guard."""
    job = await run_in_threadpool(make)
    result = (await answer(state, [job], inline=False))[0]
    if isinstance(result, Exception):
        raise result
    return result


def _batcher(state: AppState) -> LoopBatcher[OptimizeJob, Response]:
    if state.optimize_batches is None:  # one per app; the event loop is its only user
        state.optimize_batches = LoopBatcher(
            lambda jobs: answer(state, jobs), BATCH_MAX_JOBS, shared_errors=(StoreUnavailable,)
        )
    batcher: LoopBatcher[OptimizeJob, Response] = state.optimize_batches
    return batcher
