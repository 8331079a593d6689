"""A route class for the hot scoring routes: FastAPI documents them, the endpoint answers directly.

The scoring routes take only ``request: Request`` and return a ready ``Response`` (they validate
their raw body themselves, see ``services.api.body``). FastAPI's own handler would still solve an
empty dependency graph (reading the query string for it) and pass the endpoint's result through its
generic response handling on every call; ``get_route_handler`` is FastAPI's documented hook for
replacing that handler. Routing, exception handlers, middleware and the OpenAPI document (built from
the route's declaration, not its handler) are unchanged.

Dependencies are what this handler cannot run, so a route that has any, its own, its router's or
an including router's, is refused instead of served without them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, routing
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    """For ``async def endpoint(request: Request) -> Response`` routes only (checked at declaration)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        params = list(inspect.signature(endpoint).parameters.values())
        if (
            not inspect.iscoroutinefunction(endpoint)
            or len(params) != 1
            or params[0].annotation not in (Request, "Request")
            or kwargs.get("dependencies")
        ):
            raise TypeError(
                f"{path}: DirectRoute needs `async def f(request: Request) -> Response` and no dependencies"
            )
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # FastAPI builds an included route's handler with the including router's context set; its
        # dependencies (an API key, say) would only ever run in FastAPI's own handler.
        context_var = getattr(routing, "_effective_route_context_var", None)
        context = context_var.get() if context_var is not None else None
        if getattr(context, "original_route", None) is self and getattr(context, "dependencies", None):
            raise TypeError(f"{self.path}: DirectRoute cannot run the including router's dependencies")
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint
