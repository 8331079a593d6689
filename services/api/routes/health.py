from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.api.deps import StateDep
from services.api.store_guard import StoreUnavailable
from shared.bandit import BanditStore

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health() -> dict[str, str]:
    """Alive: the process answers (says nothing about the model, and never touches the store)."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(state: StateDep) -> JSONResponse:
    """Ready: a model is loaded and the bandit store answers; otherwise 503 with the reason."""
    if state.model is None:
        return JSONResponse(status_code=503, content={"status": "not ready", "reason": state.load_error})
    try:
        await state.guard.call(lambda: _ping(state.store), "ping")
    except StoreUnavailable as exc:
        return JSONResponse(
            status_code=503,
            content={"status": "not ready", "reason": exc.rule},
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    b = state.model.bundle
    return JSONResponse(
        content={
            "status": "ready",
            "model_version": b.version,
            "serving_format": b.serving_format,
            "ranker_format": b.ranker_format,
            "store": state.store.backend,
        }
    )


def _ping(store: BanditStore) -> None:
    if not store.ping():
        raise ConnectionError("the bandit store does not answer a ping")
