"""DirectRoute: the endpoint answers itself, and the app's handlers, middleware and docs still apply."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.testclient import TestClient

from services.api import errors
from services.api.direct_route import DirectRoute
from services.api.routes import optimize, predict
from shared.schema import SchemaError


def _app() -> FastAPI:
    router = APIRouter(route_class=DirectRoute)

    @router.post("/echo", tags=["t"])
    async def echo(request: Request) -> Response:
        raw = await request.body()
        if raw == b"bad":
            raise SchemaError("users[0].features.age", "must be a number, got str")
        if raw == b"gone":
            raise HTTPException(status_code=503, detail="no model")
        return Response(raw[::-1], media_type="text/plain", headers={"x-seen": request.url.path})

    app = FastAPI()
    errors.install(app)
    app.include_router(router)
    return app


def test_the_endpoint_answers_with_its_own_response():
    client = TestClient(_app())
    res = client.post("/echo", content=b"abc")
    assert res.status_code == 200
    assert res.content == b"cba" and res.headers["x-seen"] == "/echo"
    assert res.headers["content-type"].startswith("text/plain")


def test_errors_still_go_through_the_apps_handlers():
    client = TestClient(_app())
    res = client.post("/echo", content=b"bad")
    assert res.status_code == 422
    assert res.json() == {"detail": [{"field": "users[0].features.age", "rule": "must be a number, got str"}]}
    res = client.post("/echo", content=b"gone")
    # A plain-text detail comes back in the API's {field, rule} form too (services.api.errors).
    assert res.status_code == 503 and res.json() == {"detail": [{"field": "request", "rule": "no model"}]}
    # Routing is FastAPI's own: the wrong method is still a 405.
    assert client.get("/echo").status_code == 405


def test_the_route_is_still_documented():
    spec = TestClient(_app()).get("/openapi.json").json()
    assert spec["paths"]["/echo"]["post"]["tags"] == ["t"]


async def _two(request: Request, n: int) -> Response:
    return Response(b"")


def _sync(request: Request) -> Response:
    return Response(b"")


async def _dep() -> None:
    return None


@pytest.mark.parametrize(
    ("endpoint", "extra"),
    [(_two, {}), (_sync, {}), (predict.predict, {"dependencies": [Depends(_dep)]})],
)
def test_routes_it_cannot_serve_directly_are_refused_at_declaration(endpoint, extra):
    router = APIRouter(route_class=DirectRoute)
    with pytest.raises(TypeError, match="DirectRoute needs"):
        router.add_api_route("/x", endpoint, methods=["POST"], **extra)


def test_the_scoring_routes_use_it():
    for module, path in ((predict, "/predict"), (optimize, "/optimize")):
        (route,) = [r for r in module.router.routes if getattr(r, "path", None) == path]
        assert isinstance(route, DirectRoute)


def test_an_including_routers_dependencies_are_refused_not_skipped():
    router = APIRouter(route_class=DirectRoute)

    @router.post("/x")
    async def x(request: Request) -> Response:
        return Response(b"")

    def build_and_call() -> None:
        app = FastAPI()
        app.include_router(router, dependencies=[Depends(_dep)])
        TestClient(app).post("/x")

    # Fails closed: the route never answers without the dependency it was included with.
    with pytest.raises(TypeError, match="including router's dependencies"):
        build_and_call()
