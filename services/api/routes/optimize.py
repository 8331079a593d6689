from __future__ import annotations

from collections.abc import Callable

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api.batching import LoopBatcher
from services.api.body import json_body
from services.api.direct_route import DirectRoute
from services.api.optimizer import OptimizeJob, answer, check_source
from services.api.schemas import OptimizeRequest, OptimizeResponse
from services.api.scoring import BATCH_MAX_JOBS, answer_request
from services.api.state import AppState, LoadedModel
from services.api.store_guard import StoreUnavailable

router = APIRouter(tags=["policy"], route_class=DirectRoute)


@router.post("/optimize", response_model=OptimizeResponse, openapi_extra=json_body(OptimizeRequest))
async def optimize(request: Request) -> Response:
    """Per-user Thompson sampling: an arm per user from that user's own effect samples.

    Each user's effect per treatment arm is drawn from the model's per-user effect samples (the
    served effect plus its members' spread), shifted by the calibration that /feedback taught for
    the user's segment and arm (observed − predicted outcomes); the arm with the largest
    value × effect − cost is chosen, control when none is positive. Terms come from `policy`
    (budget → at most budget // cost treatments, users walked in order) or from a campaign
    (`campaign_id`: its value, cost, pacing and the units it grants). The `propensity` is the exact
    probability of the arm given, budget included (a user past the budget gets control with
    propensity 1). Every assignment is stored and logged before the answer leaves; with `sandbox`,
    decisions read and write that sandbox only and are not logged. The ranker's items go with the
    recommendation arm, top sellers with control.
    """
    # (Ranking on a second thread was measured too: the ranker releases the GIL, but the hand-offs
    # cost more CPU than the overlap saved.)
    return await answer_request(request, OptimizeRequest, _batcher, _job, _alone)


def _job(body: OptimizeRequest, model: LoadedModel, X: np.ndarray) -> OptimizeJob:
    check_source(body)  # a 422 naming the field, for this request alone
    return OptimizeJob(body, model, X)


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
            lambda jobs: answer(state, jobs),
            BATCH_MAX_JOBS,
            shared_errors=(StoreUnavailable,),
            max_in_flight=1,  # group commit: requests arriving during a store write go in the next batch
        )
    batcher: LoopBatcher[OptimizeJob, Response] = state.optimize_batches
    return batcher
