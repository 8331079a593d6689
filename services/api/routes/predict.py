from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.api.body import json_body, parse
from services.api.deps import require_model, state_of
from services.api.errors import PayloadTooLargeError
from services.api.schemas import PredictRequest, PredictResponse
from services.api.scoring import off_loop_if_large, score
from services.api.state import LoadedModel

router = APIRouter(tags=["scoring"])


def check_batch(n: int, limit: int) -> None:
    if n > limit:
        raise PayloadTooLargeError("users", f"at most {limit} users per request, got {n}")


@router.post("/predict", response_model=PredictResponse, openapi_extra=json_body(PredictRequest))
async def predict(request: Request) -> Response:
    """CATE, outcome probabilities and segment for one user or a bounded batch."""
    body = await parse(request, PredictRequest)
    state = state_of(request)
    check_batch(len(body.users), state.settings.max_batch)
    model = require_model(state)
    return await off_loop_if_large(len(body.users), lambda: _predict(body, model))


def _predict(body: PredictRequest, model: LoadedModel) -> Response:
    bundle = model.bundle
    s = score(bundle, [u.features for u in body.users])
    # Built as plain dicts: re-validating our own numbers through the response model would cost
    # more than the scoring itself. PredictResponse still documents the shape in /docs.
    arms = bundle.arms[1:]
    effects = s.effects.tolist()
    outcomes = s.outcomes.tolist()
    best = s.best.tolist()
    preds = [
        {
            "user_id": u.user_id,
            "cate": effects[i][best[i]],
            "effects": dict(zip(arms, effects[i], strict=True)),
            "p_treated": outcomes[i][best[i] + 1],
            "p_control": outcomes[i][0],
            "segment": s.segments[i],
        }
        for i, u in enumerate(body.users)
    ]
    payload = orjson.dumps({"model_version": bundle.version, "predictions": preds})
    return Response(payload, media_type="application/json")
