from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.api.batching import LoopBatcher
from services.api.body import json_body
from services.api.direct_route import DirectRoute
from services.api.schemas import PredictRequest, PredictResponse
from services.api.scoring import BATCH_MAX_JOBS, Scores, answer_request, effect_intervals_of, score_jobs
from services.api.state import AppState, LoadedModel

router = APIRouter(tags=["scoring"], route_class=DirectRoute)


@dataclass(frozen=True, eq=False)
class PredictJob:
    body: PredictRequest
    model: LoadedModel
    X: np.ndarray  # the users, encoded


@router.post("/predict", response_model=PredictResponse, openapi_extra=json_body(PredictRequest))
async def predict(request: Request) -> Response:
    """CATE, outcome probabilities and segment for one user or a bounded batch."""
    return await answer_request(request, PredictRequest, _batcher, _job, _alone)


def _job(body: PredictRequest, model: LoadedModel, X: np.ndarray) -> PredictJob:
    if body.interval is not None and not model.bundle.has_effect_samples:
        raise HTTPException(
            409,
            detail=[{"field": "interval", "rule": "this model version has no effect samples; retrain it"}],
        )
    return PredictJob(body, model, X)


async def _alone(_: AppState, make: Callable[[], PredictJob]) -> Response:
    """A large request: encoded and scored in the thread pool, in one hop, so the loop stays free."""
    result = await run_in_threadpool(lambda: answer([make()])[0])
    if isinstance(result, Exception):
        raise result
    return result


def _batcher(state: AppState) -> LoopBatcher[PredictJob, Response]:
    if state.predict_batches is None:  # one per app; the event loop is its only user
        state.predict_batches = LoopBatcher(answer, BATCH_MAX_JOBS)
    batcher: LoopBatcher[PredictJob, Response] = state.predict_batches
    return batcher


def answer(jobs: Sequence[PredictJob]) -> list[Response | Exception]:
    """One response per job; the users of jobs on the same model are scored in one call."""
    return [_response_alone(job, s) for job, s in score_jobs(jobs)]


def _response_alone(job: PredictJob, s: Scores) -> Response | Exception:
    try:
        return _response(job, s)
    except Exception as exc:  # this request's own failure: the batch's other requests go on
        return exc


def _response(job: PredictJob, s: Scores) -> Response:
    bundle = job.model.bundle
    # Built as plain dicts: re-validating our own numbers through the response model would cost
    # more than the scoring itself. PredictResponse still documents the shape in /docs.
    arms = bundle.arms[1:]
    n = len(s.best)
    rows = np.arange(n)
    # Whole columns first (a few numpy calls), then one pass of plain dicts over zipped lists.
    cate = s.effects[rows, s.best].tolist()
    p_treated = s.outcomes[rows, s.best + 1].tolist()
    p_control = s.outcomes[:, 0].tolist()
    if len(arms) == 1:
        arm = arms[0]
        effects = [{arm: c} for c in cate]  # one treatment arm: its effect is the CATE
    else:
        effects = [dict(zip(arms, e, strict=True)) for e in s.effects.tolist()]
    preds = [
        {"user_id": u.user_id, "cate": c, "effects": e, "p_treated": pt, "p_control": pc, "segment": g}
        for u, c, e, pt, pc, g in zip(
            job.body.users, cate, effects, p_treated, p_control, s.segments.tolist(), strict=True
        )
    ]
    if job.body.interval is not None:
        low, high = effect_intervals_of(job.model, job.X, s.effects, job.body.interval)
        for pred, lo, hi in zip(preds, low.tolist(), high.tolist(), strict=True):
            pred["effect_intervals"] = {a: (lo_a, hi_a) for a, lo_a, hi_a in zip(arms, lo, hi, strict=True)}
    payload = orjson.dumps({"model_version": bundle.version, "predictions": preds})
    return Response(payload, media_type="application/json")
