"""Dynamic batching on the event loop: the calls that arrive together are answered by one run.

With several clients, one worker's event loop finds several requests ready at each wake-up. Each
handler submits its job and waits; the first submission schedules one run for the next loop turn,
which by then holds every job submitted in this one. So a one-user call pays the model calls and
the commit once per batch instead of once per request, with no timer and no added wait: a lone
request runs one loop turn later (microseconds), and a batch is never held back for a fuller one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")


class LoopBatcher(Generic[J, R]):
    """Runs the jobs submitted in one event-loop turn together, ``max_jobs`` at a time.

    ``run`` takes the jobs and returns one result per job, in order. If it raises, every job of that
    batch gets the exception (a failed shared step, e.g. the commit, fails them all alike).
    """

    def __init__(self, run: Callable[[Sequence[J]], Sequence[R]], max_jobs: int) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs: must be at least 1, got {max_jobs}")
        self.run = run  # also how a caller answers a job outside any batch
        self.max_jobs = max_jobs
        self._pending: list[tuple[J, asyncio.Future[R]]] = []
        self._scheduled = False
        self.batches = 0  # runs so far, and the jobs they answered: the batching at a glance
        self.jobs = 0

    async def submit(self, job: J) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((job, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, rest = self._pending[: self.max_jobs], self._pending[self.max_jobs :]
        self._pending = rest
        if rest:
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._scheduled = False
        # A client that gave up (disconnect, timeout) cancelled its future: no work for it.
        live = [(job, fut) for job, fut in batch if not fut.done()]
        if not live:
            return
        self.batches += 1
        self.jobs += len(live)
        try:
            results = self.run([job for job, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch run returned {len(results)} results for {len(live)} jobs")
        except Exception as exc:
            for _, fut in live:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), result in zip(live, results, strict=True):
            if not fut.done():
                fut.set_result(result)
