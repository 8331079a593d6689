"""Even out keep-alive connections over `uplift serve --workers N`'s workers.

Each worker listens on its own ``SO_REUSEPORT`` socket and the kernel gives every new connection to
one of them by a hash of its addresses. Over many short connections that spreads evenly; a client
that opens a few keep-alive connections and keeps them (a service's connection pool, or wrk's 16
in loadtests/bench_replicas.py) is split unevenly as often as not, 5/11 or 4/12, and then one worker
is saturated while the other idles.

So a worker that holds more than its share of the connections in use asks one of them to reconnect:
its next response carries ``Connection: close`` (the request itself is answered in full), the client
opens a new connection, and the kernel hashes that one afresh. gRPC's ``MAX_CONNECTION_AGE`` and
proxies' requests-per-connection limits rebalance long-lived connections the same way. Only a worker
above its share, and at least two above the least busy worker, acts, one connection per look: two
workers never push connections at each other, and an even split stays as it is.

A connection is "in use" if it was kept alive (it sent a second request) and sent one during the
last ``ACTIVE_LOOKS`` looks: idle pool connections cost a worker nothing, and a client that opens a
connection per request spreads by the hash already, so neither is counted. Only a kept-alive
connection is ever asked to reconnect, never one on its first request.

The workers publish their counts in a small array of shared memory that the supervisor creates:
(connections, time of the count) per worker. A worker publishes from a timer on its event loop once
its lifespan has started (when uvicorn starts listening), so a count older than ``STALE_S`` is a
worker that is gone or stuck, and is left out.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import MutableSequence, Sequence
from contextlib import suppress
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.metrics import REBALANCED

LOOK_S = 0.1  # how often a worker recounts its connections and compares
ACTIVE_LOOKS = 5  # a connection that sent nothing for this many looks (0.5 s) is idle
STALE_S = 1.0  # a published count older than this is a worker that is not running


@dataclass(frozen=True)
class WorkerShares:
    """This worker's view of the shared counts: ``counts[2 i]`` = worker i's connections in use,
    ``counts[2 i + 1]`` = when it counted them (``time.monotonic()``, one clock for all processes
    on Linux). Built by the supervisor with ``multiprocessing``'s ``RawArray('d', 2 * workers)``."""

    counts: MutableSequence[float]
    index: int

    @property
    def workers(self) -> int:
        return len(self.counts) // 2

    def publish(self, connections: int, now: float) -> None:
        self.counts[2 * self.index] = float(connections)
        self.counts[2 * self.index + 1] = now

    def running(self, now: float) -> list[int]:
        """The connection counts of the workers that published lately (this one included)."""
        return [
            int(self.counts[2 * i])
            for i in range(self.workers)
            if i == self.index or now - self.counts[2 * i + 1] <= STALE_S
        ]


def to_hand_back(mine: int, running: Sequence[int]) -> int:
    """Connections this worker should ask to reconnect now: one when it holds more than its fair
    share (the ceiling of the mean) and at least two more than the least busy worker, else none."""
    if len(running) < 2:
        return 0
    fair = math.ceil(sum(running) / len(running))
    return 1 if mine > fair and mine - min(running) >= 2 else 0


# This process's shares: set once by a worker before uvicorn imports and builds the app.
_JOINED: list[WorkerShares] = []


def join(shares: WorkerShares) -> None:
    """Called by a worker process before uvicorn builds the app (services.api.workers)."""
    _JOINED[:] = [shares]


def joined() -> WorkerShares | None:
    """The shares of this worker process, or None when it serves alone."""
    return _JOINED[0] if _JOINED else None


class BalanceConnections:
    """Pure ASGI middleware: notes which connection each request came on; asks one to reconnect
    when this worker holds too many. Costs a dict write per request."""

    def __init__(self, app: ASGIApp, shares: WorkerShares) -> None:
        self.app = app
        self.shares = shares
        self._look = 0
        # connection (client host, port) -> (last look it sent on, whether it sent more than once)
        self._seen: dict[object, tuple[int, bool]] = {}
        self._hand_back = 0
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._watch_lifespan(send))
            await self._stop()
            return
        client = scope.get("client")
        # Port 0: behind a trusted local proxy, uvicorn's proxy-headers middleware puts the forwarded
        # address there (port 0 when X-Forwarded-For gives none): a user, not a connection, so such
        # requests are neither counted nor closed.
        if scope["type"] != "http" or client is None or not client[1]:
            await self.app(scope, receive, send)
            return
        kept = client in self._seen
        if kept and self._hand_back > 0:
            self._hand_back -= 1
            del self._seen[client]
            send = _closing(send)
        else:
            self._seen[client] = (self._look, kept)
        await self.app(scope, receive, send)

    def look(self, now: float) -> None:
        """Recount the connections in use, publish the count, and decide whether to hand one back."""
        self._look += 1
        idle_before = self._look - ACTIVE_LOOKS
        self._seen = {c: seen for c, seen in self._seen.items() if seen[0] > idle_before}
        mine = sum(kept for _, kept in self._seen.values())
        self.shares.publish(mine, now)
        self._hand_back = to_hand_back(mine, self.shares.running(now))

    def _watch_lifespan(self, send: Send) -> Send:
        async def watched(message: Message) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete" and self._task is None:
                self._task = asyncio.get_running_loop().create_task(self._looking())

        return watched

    async def _looking(self) -> None:
        while True:
            self.look(time.monotonic())
            await asyncio.sleep(LOOK_S)

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _closing(send: Send) -> Send:
    async def closing(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", []), (b"connection", b"close")]
            message = {**message, "headers": headers}
            REBALANCED.inc()
        await send(message)

    return closing
