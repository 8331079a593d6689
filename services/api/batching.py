"""Dynamic batching on the event loop: the calls that arrive together are answered by one run.

With several clients, one worker's event loop finds several requests ready at each wake-up. Each
handler submits its job and waits; the first submission schedules one run for the next loop turn,
which by then holds every job submitted in this one. So a one-user call pays the model calls and
the commit once per batch instead of once per request, with no timer: a lone request runs one loop
turn later (microseconds).

A batch that grew during its turn waits for the next turn while it keeps growing, up to
``wait_turns`` turns: under load, requests read in one turn are submitted in the next, so a batch
run at the first chance takes only the requests that happened to arrive together. Waiting costs a
turn of the loop (a poll that does not block, microseconds) and no timer; a turn that adds nothing
runs the batch. One worker's CPU per one-user /predict fell from 0.200 to 0.1725 ms at 8 clients
(loadtests/bench_latency.py), and with the connection balancing two workers' from 0.199 to 0.176 ms
at 16 (loadtests/bench_replicas.py; both in docs/benchmarks.md, "Eighth session").

A run that awaits (a store write off the loop) can be limited to ``max_in_flight`` at a time: the
jobs that arrive meanwhile wait for it and then go together, as a database's group commit does. A
lone request finds nothing in flight and waits for nothing; under load the batches grow, so each
request pays a smaller share of the model calls and the commit (measured on /optimize at 8 clients:
requests per batch, CPU per request and p99 in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")

# Turns a growing batch waits for more jobs: two reach the requests read during the turn the batch
# was formed in (read in one turn, submitted in the next), and one more those that came right after.
WAIT_TURNS = 3


class LoopBatcher(Generic[J, R]):
    """Runs the jobs submitted in one event-loop turn together, ``max_jobs`` at a time.

    ``run`` takes the jobs and returns one result per job, in order (or a coroutine giving them,
    for a run that awaits, e.g. a store call off the loop). A result that is an exception fails
    that job alone. If ``run`` raises, the exception is about a shared step or about one job that
    the run could not tell apart; so each job of the batch runs again on its own, and only the
    jobs that fail alone fail. Exceptions in ``shared_errors`` (a store outage) are about no job:
    they fail the whole batch at once, without the reruns.
    """

    def __init__(
        self,
        run: Callable[[Sequence[J]], Sequence[R | BaseException] | Awaitable[Sequence[R | BaseException]]],
        max_jobs: int,
        shared_errors: tuple[type[BaseException], ...] = (),
        max_in_flight: int | None = None,
        wait_turns: int = WAIT_TURNS,
    ) -> None:
        if max_jobs < 1:
            raise ValueError(f"max_jobs: must be at least 1, got {max_jobs}")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight: must be at least 1 or None, got {max_in_flight}")
        if wait_turns < 0:
            raise ValueError(f"wait_turns: must be at least 0, got {wait_turns}")
        self.wait_turns = wait_turns
        self._seen = 0  # jobs pending when the scheduled flush last looked
        self._waited = 0  # turns the next batch has waited so far
        self.max_in_flight = max_in_flight
        self._in_flight = 0  # async runs started by _flush and not yet settled
        self.run = run
        self.max_jobs = max_jobs
        self.shared_errors = shared_errors
        self._pending: list[tuple[J, asyncio.Future[R]]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()  # async runs in flight (the loop keeps weak refs)
        self.batches = 0  # runs so far, and the jobs they answered: the batching at a glance
        self.jobs = 0

    async def submit(self, job: J) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((job, future))
        if not self._scheduled:
            self._scheduled = True
            self._schedule_flush()
        return await future

    def _schedule_flush(self) -> None:
        self._seen, self._waited = len(self._pending), 0
        asyncio.get_running_loop().call_soon(self._flush)

    async def run_one(self, job: J) -> R:
        """One job outside any batch (a large request), with the same failure rules."""
        out = self.run([job])
        results = await out if inspect.isawaitable(out) else out
        result = _checked(results, 1)[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _flush(self) -> None:
        if self.max_in_flight is not None and self._in_flight >= self.max_in_flight:
            self._scheduled = False  # the run in flight schedules the next flush when it settles
            return
        n = len(self._pending)
        if self._seen < n < self.max_jobs and self._waited < self.wait_turns:
            self._seen, self._waited = n, self._waited + 1  # still growing: look again next turn
            asyncio.get_running_loop().call_soon(self._flush)
            return
        batch, rest = self._pending[: self.max_jobs], self._pending[self.max_jobs :]
        self._pending = rest
        if rest:
            self._schedule_flush()
        else:
            self._scheduled = False
        # A client that gave up (disconnect, timeout) cancelled its future: no work for it.
        live = [(job, fut) for job, fut in batch if not fut.done()]
        if not live:
            return
        self.batches += 1
        self.jobs += len(live)
        try:
            out = self.run([job for job, _ in live])
            if inspect.isawaitable(out):
                self._in_flight += 1
                self._spawn(self._settle_later(live, out))
                return
            results = _checked(out, len(live))
        except Exception as exc:
            self._failed(live, exc)
            return
        _deliver(live, results)

    def _failed(self, live: list[tuple[J, asyncio.Future[R]]], exc: Exception) -> None:
        if isinstance(exc, self.shared_errors) or len(live) == 1:
            _fail(live, exc)
        else:  # the rare path: each job again, on its own, so that only the culprit fails
            self._spawn(self._settle_alone(live))

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_later(
        self, live: list[tuple[J, asyncio.Future[R]]], out: Awaitable[Sequence[R | BaseException]]
    ) -> None:
        try:
            try:
                results = _checked(await out, len(live))
            except Exception as exc:
                self._failed(live, exc)
                return
            _deliver(live, results)
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                self._schedule_flush()

    async def _settle_alone(self, live: list[tuple[J, asyncio.Future[R]]]) -> None:
        for job, fut in live:
            if fut.done():
                continue
            try:
                result: R | BaseException = await self.run_one(job)
            except Exception as exc:
                result = exc
            _deliver([(job, fut)], [result])


def _checked(results: Sequence[R | BaseException], n: int) -> Sequence[R | BaseException]:
    if len(results) != n:
        raise RuntimeError(f"batch run returned {len(results)} results for {n} jobs")
    return results


def _fail(live: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, fut in live:
        if not fut.done():
            fut.set_exception(exc)


def _deliver(live: Sequence[tuple[object, asyncio.Future[R]]], results: Sequence[object]) -> None:
    for (_, fut), result in zip(live, results, strict=True):
        if fut.done():
            continue
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)  # type: ignore[arg-type]
