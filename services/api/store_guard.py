"""Bandit-store calls off the event loop, bounded in time, with one log line per outage.

A store call blocks its thread for as long as the store takes: a stopped Redis holds it for the
socket timeout, another process holding SQLite's write lock for the busy timeout. On the event loop
that froze every route of the worker, ``/predict`` and ``/health`` too. Here each call runs on the
guard's own small thread pool and the request waits at most ``timeout_s``; past it, or on any
store error, the route answers 503 with ``Retry-After``.

While the store is out, requests fail at once instead of each waiting the full timeout and
parking one more thread on the dead store; one call at a time (every ``probe_interval_s``) still
goes through, and its success ends the outage by itself. The outage is logged when it starts and
when it ends, never per request.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("uplift.api")

# What a store raises when it, not the request, is at fault (a refused connection, a lock, a timeout).
_BUILTIN_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.OperationalError,
    sqlite3.DatabaseError,
    OSError,
    TimeoutError,
)


def store_errors() -> tuple[type[BaseException], ...]:
    """The errors above, and Redis's once a Redis store has imported the client: importing it costs
    ~0.2 s of start-up that a server on the embedded SQLite store would pay for nothing."""
    client = sys.modules.get("redis")
    return (*_BUILTIN_ERRORS, client.RedisError) if client is not None else _BUILTIN_ERRORS


class StoreUnavailable(Exception):  # noqa: N818 - a condition, answered as 503
    def __init__(self, rule: str, retry_after_s: int) -> None:
        super().__init__(rule)
        self.rule = rule
        self.retry_after_s = retry_after_s


class StoreGuard:
    def __init__(
        self,
        timeout_s: float,
        retry_after_s: int,
        threads: int = 4,
        probe_interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"store_timeout_s: must be positive, got {timeout_s!r}")
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self.probe_interval_s = probe_interval_s
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bandit-store")
        self.down_since: float | None = None  # monotonic time the outage began, None while up
        self._probing = {False: False, True: False}  # by ``writes``
        self._down_on_write = False
        self._last_probe = {False: 0.0, True: 0.0}
        self.outages = 0  # outages seen so far (each logged once)

    @property
    def is_up(self) -> bool:
        return self.down_since is None

    async def call(self, fn: Callable[[], T], what: str, writes: bool = False) -> T:
        """``fn()`` on the store's pool: its result, or ``StoreUnavailable`` within ``timeout_s``.

        ``writes`` marks a call that writes. An outage a write began ends only when a write gets
        through: under another process's SQLite write lock, reads still answer and would otherwise
        end and restart the outage on every probe.
        """
        probe = False
        if self.down_since is not None:
            now = self._clock()
            # Reads and writes probe on their own turns, so that reads cannot starve the write
            # whose success ends a write outage.
            if self._probing[writes] or now - self._last_probe[writes] < self.probe_interval_s:
                raise self._unavailable(f"bandit store is unavailable ({what} not attempted); retry later")
            self._probing[writes], self._last_probe[writes], probe = True, now, True
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await loop.run_in_executor(self._pool, fn)
        except TimeoutError:
            self._went_down(f"{what} took longer than {self.timeout_s:g} s", writes)
            raise self._unavailable(
                f"bandit store did not answer {what} within {self.timeout_s:g} s; retry later"
            ) from None
        except store_errors() as exc:
            self._went_down(f"{what} failed: {type(exc).__name__}: {exc}", writes)
            raise self._unavailable(f"bandit store failed on {what}; retry later") from None
        finally:
            if probe:
                self._probing[writes] = False
        if self.down_since is not None and (writes or not self._down_on_write):
            log.warning(
                "bandit store answers again after %.1f s (outage %d)",
                self._clock() - self.down_since,
                self.outages,
            )
            self.down_since = None
        return result

    def _went_down(self, reason: str, writes: bool) -> None:
        if self.down_since is None:
            self._down_on_write = writes
            self.down_since = self._clock()
            self._last_probe = {False: self.down_since, True: self.down_since}
            self.outages += 1
            log.error("bandit store unavailable (outage %d): %s", self.outages, reason)

    def _unavailable(self, rule: str) -> StoreUnavailable:
        return StoreUnavailable(rule, self.retry_after_s)

    def close(self) -> None:
        # Calls still parked on a stopped store are abandoned, not awaited: shutdown must not hang.
        self._pool.shutdown(wait=False, cancel_futures=True)
