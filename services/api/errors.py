"""Bad input is a 4xx whose body names the field and the rule; nothing about it is ever a 5xx."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from services.api.limits import RequestBodyTimeout
from services.api.store_guard import StoreUnavailable
from shared.schema import SchemaError


class PayloadTooLargeError(Exception):
    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "body"


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"field": _field(tuple(e["loc"])), "rule": e["msg"]} for e in exc.errors()]
    return JSONResponse(status_code=422, content={"detail": detail})


async def _schema(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SchemaError)
    return JSONResponse(status_code=422, content={"detail": [{"field": exc.field, "rule": exc.rule}]})


async def _too_large(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PayloadTooLargeError)
    return JSONResponse(status_code=413, content={"detail": [{"field": exc.field, "rule": exc.rule}]})


async def _store_unavailable(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StoreUnavailable)
    return JSONResponse(
        status_code=503,
        content={"detail": [{"field": "store", "rule": exc.rule}]},
        headers={"Retry-After": str(exc.retry_after_s)},
    )


async def _body_timeout(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestBodyTimeout)
    return JSONResponse(
        status_code=408,
        content={"detail": [{"field": "body", "rule": exc.rule}]},
        headers={"Connection": "close"},
    )


async def _client_gone(_: Request, __: Exception) -> Response:
    # The client went away mid-body: nobody to answer and nothing wrong here. 499 (nginx's "client
    # closed request") is what the metrics count; no traceback is logged.
    return Response(status_code=CLIENT_CLOSED_REQUEST)


CLIENT_CLOSED_REQUEST = 499


async def _http(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own errors (404, 405, an unreadable body) in the same {field, rule} form."""
    assert isinstance(exc, StarletteHTTPException)
    detail: Any = exc.detail
    if isinstance(detail, str):
        field = "body" if exc.status_code == 400 else "path" if exc.status_code in (404, 405) else "request"
        detail = [{"field": field, "rule": detail}]
    return JSONResponse(status_code=exc.status_code, content={"detail": detail}, headers=exc.headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RequestBodyTimeout, _body_timeout)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(SchemaError, _schema)
    app.add_exception_handler(PayloadTooLargeError, _too_large)
