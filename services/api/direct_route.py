"""A route class for the hot scoring routes: FastAPI documents them, the endpoint answers directly.

The scoring routes take only ``request: Request`` and return a ready ``Response`` (they validate
their raw body themselves, see ``services.api.body``). FastAPI's own handler would still solve an
empty dependency graph, parse query parameters and open its exit stacks for them on every call;
``get_route_handler`` is FastAPI's documented hook for replacing that handler. Routing, exception
handlers, middleware and the OpenAPI document (built from the route's declaration, not its handler)
are unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
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
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint
