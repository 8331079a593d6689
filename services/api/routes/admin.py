from __future__ import annotations

from fastapi import APIRouter, HTTPException

from services.api.deps import ApiKey, StateDep
from services.api.state import load_model
from shared.artifacts import ArtifactError

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[ApiKey])


@router.post("/reload")
def reload(state: StateDep) -> dict[str, str | None]:
    """Load the current artifact; if it is corrupt or mismatched, keep serving the old one and say why."""
    with state.reload_lock:
        previous = state.model.bundle.version if state.model else None
        try:
            fresh = load_model(state.settings)
            # All of the new version is read and checked before it replaces the old one.
            fresh.bundle.load_boosters()
        except ArtifactError as exc:
            raise HTTPException(
                409,
                detail=[{"field": "models_dir", "rule": f"reload refused, still serving {previous}: {exc}"}],
            ) from None
        state.model = fresh
        state.load_error = None
    return {"status": "reloaded", "previous_version": previous, "model_version": fresh.bundle.version}
