from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.api.deps import ApiKey, StateDep
from services.api.state import log, public_reason, reload_now
from shared.artifacts import ArtifactError

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[ApiKey])


@router.post("/reload")
def reload(state: StateDep) -> dict[str, Any]:
    """Load the current artifact in every worker; if it is corrupt or mismatched, keep serving the old one.

    The answer comes once every worker serves the new version (``all_workers_serving``), or after
    ``reload_wait_s`` with the workers that did not and why (``workers``).
    """
    previous = state.model.bundle.version if state.model else None
    try:
        # All of the new version is read and checked before it replaces the old one.
        fresh = reload_now(state)
    except ArtifactError as exc:
        log.error("reload refused, still serving %s: %s", previous, exc)
        reason = public_reason(str(exc), state.settings)
        raise HTTPException(
            409,
            detail=[{"field": "models_dir", "rule": f"reload refused, still serving {previous}: {reason}"}],
        ) from None
    version = fresh.bundle.version
    out: dict[str, Any] = {"status": "reloaded", "previous_version": previous, "model_version": version}
    if state.sync is None:
        return out
    generation = state.sync.publish()
    state.sync.report(version, None, generation)
    reports, all_serving = state.sync.wait_for(generation, version, state.settings.reload_wait_s)
    return {
        **out,
        "generation": generation,
        "all_workers_serving": all_serving,
        "workers": [r.to_dict() for r in reports],
    }
