"""Request limits that uvicorn does not set: JSON-only bodies, requests in flight, body read time.

A pure ASGI middleware, inside the metrics one (so what it refuses is counted):

- A POST/PUT/PATCH body must be declared JSON (``application/json`` or ``application/*+json``):
  415 otherwise. A web page can make a visitor's browser send ``text/plain`` to any origin without
  asking (no CORS preflight), so accepting it let any page write assignments in their name.
- At most ``max_concurrent`` requests in flight per worker: the next one is a 503 with
  ``Retry-After`` at once, instead of queueing without bound. ``/health`` is exempt: an overloaded
  worker is alive, and a liveness probe that failed would have it restarted.
- A body that stops arriving: each read waits at most ``body_timeout_s``, then 408 and the
  connection is closed. (uvicorn has no public option for a header read timeout: a proxy in front
  sets that one; uvicorn's ``limit_concurrency`` bounds the connections it holds meanwhile.)
"""

from __future__ import annotations

import asyncio
import json
from email.message import Message as MimeHeader

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
_EXEMPT = frozenset({"/health"})
# Routes whose body is a CSV upload (the target list). text/csv is not a CORS "simple" type, so a
# browser preflights it: a foreign page still cannot send it unasked. Nothing there writes state.
_CSV_BODY = frozenset({"/model/targets"})


class RequestBodyTimeout(Exception):  # noqa: N818 - a condition, answered as 408
    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"body: no data for {timeout_s:g} s")
        self.rule = f"the request body did not arrive within {timeout_s:g} s"


def is_csv(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip().lower() == "text/csv"


def is_json(content_type: str) -> bool:
    header = MimeHeader()
    header["content-type"] = content_type
    if header.get_content_maintype() != "application":
        return False
    sub = header.get_content_subtype()
    return sub == "json" or sub.endswith("+json")


async def _reply(send: Send, status: int, field: str, rule: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": [{"field": field, "rule": rule}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    def __init__(self, app: ASGIApp, max_concurrent: int, body_timeout_s: float) -> None:
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent_requests: must be at least 1, got {max_concurrent}")
        if not body_timeout_s > 0:
            raise ValueError(f"body_read_timeout_s: must be positive, got {body_timeout_s}")
        self.app = app
        self.max_concurrent = max_concurrent
        self.body_timeout_s = body_timeout_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
        if scope["method"] in _WITH_BODY:
            content_type, has_body = None, False
            for name, value in scope.get("headers", []):
                if name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == b"transfer-encoding" or (name == b"content-length" and value not in (b"0", b"")):
                    has_body = True
            csv_ok = scope["path"] in _CSV_BODY and is_csv(content_type)
            if has_body and not csv_ok and (content_type is None or not is_json(content_type)):
                wanted = "application/json or text/csv" if scope["path"] in _CSV_BODY else "application/json"
                rule = f"must be {wanted}, got {content_type or 'none'}"
                await _reply(send, 415, "header.content-type", rule, [])
                return
        if self.in_flight >= self.max_concurrent:
            rule = f"more than {self.max_concurrent} requests in flight; retry later"
            await _reply(send, 503, "server", rule, [(b"retry-after", b"1")])
            return
        self.in_flight += 1
        try:
            await self.app(scope, self._timed(receive), send)
        finally:
            self.in_flight -= 1

    def _timed(self, receive: Receive) -> Receive:
        """``receive`` with each read of the body bounded in time (not the wait for a disconnect after it)."""
        timeout_s = self.body_timeout_s
        done = False

        async def timed_receive() -> Message:
            nonlocal done
            if done:
                return await receive()
            # asyncio.timeout, not wait_for: wait_for wraps the read in a task of its own, a cost
            # every request would pay for a timeout that almost never fires.
            try:
                async with asyncio.timeout(timeout_s):
                    message = await receive()
            except TimeoutError:
                raise RequestBodyTimeout(timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                done = True
            return message

        return timed_receive
