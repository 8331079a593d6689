"""The app: settings, middleware, error handlers and routers. Nothing else lives here."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.api import body, connection_balance, errors, openapi_errors, openapi_features
from services.api.limits import RequestLimits
from services.api.metrics import ObserveAndLimit
from services.api.routes import (
    admin,
    bandit,
    campaigns,
    experiments,
    feedback,
    health,
    metrics,
    model,
    optimize,
    predict,
    recommend,
)
from services.api.settings import ApiSettings
from services.api.state import lifespan


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    app = FastAPI(
        title="uplift-engine API",
        version="0.1.0",
        description="Per-user CATE and segments, budgeted targeting, Thompson-sampled arms that learn from feedback.",
        lifespan=lifespan,
        # Metrics are ours (prometheus-client, /metrics). FastAPI's built-in OpenTelemetry hook would
        # otherwise ask the global providers on every request whether anyone is listening.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    errors.install(app)
    body.install(app)
    openapi_errors.install(app)  # after body's: documents the errors of the raw-body routes too
    openapi_features.install(app)
    for r in (predict, optimize, recommend, feedback, bandit, model, health, admin, metrics, experiments):
        app.include_router(r.router)
    app.include_router(campaigns.router)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"])
    shares = connection_balance.joined()
    if shares is not None and settings.balance_connections:
        app.add_middleware(connection_balance.BalanceConnections, shares=shares)
    app.add_middleware(
        RequestLimits,
        max_concurrent=settings.max_concurrent_requests,
        body_timeout_s=settings.body_read_timeout_s,
    )
    # Added last, so outermost: it counts what the limits refuse too.
    app.add_middleware(ObserveAndLimit, max_body_bytes=settings.max_body_bytes)
    return app


app = create_app
