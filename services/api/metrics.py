"""Prometheus metrics and a lean ASGI middleware (request counts, latency, body-size limit).

A pure ASGI middleware instead of ``BaseHTTPMiddleware``: it adds microseconds, not a task hop.
"""

from __future__ import annotations

import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "uplift_http_requests_total", "HTTP requests", ["route", "method", "status"], registry=REGISTRY
)
LATENCY = Histogram(
    "uplift_http_request_seconds",
    "Request latency",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
ASSIGNMENTS = Counter("uplift_assignments_total", "Arm assignments", ["segment", "arm"], registry=REGISTRY)
OPTIMIZE_BATCH = Histogram(
    "uplift_optimize_batch_requests",
    "/optimize requests answered together (one model call and one commit per batch)",
    buckets=(1, 2, 4, 8, 16),
    registry=REGISTRY,
)
REBALANCED = Counter(
    "uplift_connections_rebalanced_total",
    "Keep-alive connections asked to reconnect (Connection: close) to even out the workers' shares",
    registry=REGISTRY,
)
REWARDS = Counter("uplift_rewards_total", "Applied rewards", ["segment", "arm", "reward"], registry=REGISTRY)


async def _reply_413(send: Send, limit: int) -> None:
    body = json.dumps(
        {"detail": [{"field": "body", "rule": f"request body must be at most {limit} bytes"}]}
    ).encode()
    await send(
        {"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


class ObserveAndLimit:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Metric children per (route, method, status): ``labels()`` takes a lock and validates its
        # arguments on every call, a few µs that a hot route pays twice per request otherwise.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _reply_413(send, limit)
                REQUESTS.labels("unmatched", scope["method"], "413").inc()
                return
        seen = 0
        status = {"code": 500, "started": 0}
        gone = False

        async def limited_receive() -> Message:
            nonlocal seen, gone
            message = await receive()
            if message["type"] == "http.disconnect" and not status["started"]:
                gone = True
            seen += len(message.get("body", b""))
            if seen > limit:
                from services.api.errors import PayloadTooLargeError

                raise PayloadTooLargeError("body", f"request body must be at most {limit} bytes")
            return message

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not gone:
                status["code"], status["started"] = message["status"], 1
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, limited_receive, observed_send)
        finally:
            elapsed = time.perf_counter() - start
            route: Any = scope.get("route")
            # A client that left before its answer was sent closed the request: 499, not a 5xx/4xx
            # of ours (FastAPI turns a body cut short into a 400, Starlette's error middleware a 500).
            code = 499 if gone else status["code"]
            key = (getattr(route, "path", "unmatched"), scope["method"], code)
            children = self._children.get(key)
            if children is None:
                path, method, code = key
                children = self._children[key] = (
                    LATENCY.labels(path),
                    REQUESTS.labels(path, method, str(code)),
                )
            children[0].observe(elapsed)
            children[1].inc()
