"""LoopBatcher: what one loop turn submits runs together; failures and cancellations stay contained."""

import asyncio

import pytest

from services.api.batching import LoopBatcher


def _recording(calls):
    def run(jobs):
        calls.append(list(jobs))
        return [j * 10 for j in jobs]

    return run


def test_jobs_of_one_loop_turn_run_as_one_batch_in_order():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=16)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(5)))

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert calls == [[0, 1, 2, 3, 4]]
    assert (batcher.batches, batcher.jobs) == (1, 5)


def test_a_lone_job_is_not_held_back_and_later_turns_make_new_batches():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=16)

    async def main():
        first = await batcher.submit(1)
        second = await asyncio.gather(batcher.submit(2), batcher.submit(3))
        return first, second

    assert asyncio.run(main()) == (10, [20, 30])
    assert calls == [[1], [2, 3]]


def test_max_jobs_splits_a_turn_into_several_batches():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=2)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(5)))

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert calls == [[0, 1], [2, 3], [4]]


def test_a_failing_run_fails_its_batch_only():
    def run(jobs):
        if 0 in jobs:
            raise OSError("disk full")
        return list(jobs)

    batcher = LoopBatcher(run, max_jobs=2)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(3)), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert isinstance(first, OSError) and isinstance(second, OSError)
    assert third == 2


def test_a_run_that_loses_a_result_fails_the_batch_instead_of_misrouting():
    batcher = LoopBatcher(lambda jobs: list(jobs)[:-1], max_jobs=8)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(3)), return_exceptions=True)

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(main()))


def test_a_cancelled_job_is_not_run():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=8)

    async def main():
        gone = asyncio.ensure_future(batcher.submit(1))
        kept = asyncio.ensure_future(batcher.submit(2))
        await asyncio.sleep(0)  # both submitted; the run is scheduled for the next turn
        gone.cancel()
        return await kept

    assert asyncio.run(main()) == 20
    assert calls == [[2]]


def test_max_jobs_must_be_positive():
    with pytest.raises(ValueError, match="max_jobs"):
        LoopBatcher(list, max_jobs=0)
