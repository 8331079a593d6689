from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.api.deps import ModelDep
from services.api.schemas import RecommendRequest, RecommendResponse, ScoredItem

router = APIRouter(tags=["scoring"])


@router.post("/recommend", response_model=RecommendResponse)
def recommend(body: RecommendRequest, model: ModelDep) -> RecommendResponse:
    """Items ranked by the ranker for one user (optionally among given candidates)."""
    bundle = model.bundle
    if bundle.catalog is None:
        raise HTTPException(409, detail=[{"field": "model", "rule": "this model version has no ranker"}])
    unknown = [c for c in body.candidates or [] if c not in bundle.catalog.index]
    if unknown:
        raise HTTPException(422, detail=[{"field": "candidates", "rule": f"unknown item id {unknown[0]!r}"}])
    X = bundle.schema.encode_records([body.features])
    ids, scores = bundle.rank_items(X[0], body.candidates)
    items = [
        ScoredItem(item_id=str(i), score=float(v))
        for i, v in zip(ids[: body.top_k], scores[: body.top_k], strict=True)
    ]
    return RecommendResponse(model_version=bundle.version, user_id=body.user_id, items=items)
