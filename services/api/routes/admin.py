from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.api.deps import ApiKey, StateDep
from services.api.state import load_model, log, public_reason
from shared.artifacts import ArtifactError

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[ApiKey])


@router.post("/reload")
def reload(state: StateDep) -> dict[str, str | None]:
    """Load the current artifact; if it is corrupt or mismatched, keep serving the old one and say why."""
    with state.reload_lock:
        previous = state.model.bundle.version if state.model else None
        try:
            # All of the new version is read and checked before it replaces the old one.
            fresh = load_model(state.settings, boosters=True)
        except ArtifactError as exc:
            log.error("reload refused, still serving %s: %s", previous, exc)
            reason = public_reason(str(exc), state.settings)
            raise HTTPException(
                409,
                detail=[
                    {"field": "models_dir", "rule": f"reload refused, still serving {previous}: {reason}"}
                ],
            ) from None
        state.model = fresh
        state.load_error = None
    return {"status": "reloaded", "previous_version": previous, "model_version": fresh.bundle.version}
