from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.metrics import REGISTRY

router = APIRouter(tags=["ops"])


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition: request counts and latency per route, assignments and rewards per arm."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
