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


async def _after_turns(batcher, job, turns):
    for _ in range(turns):
        await asyncio.sleep(0)  # one loop turn each
    return await batcher.submit(job)


def test_a_growing_batch_waits_for_the_jobs_of_the_next_turns():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=16, wait_turns=3)

    async def main():
        # Two at once, then one job per turn: each turn finds the batch grown, so it waits.
        return await asyncio.gather(*(_after_turns(batcher, j, t) for j, t in enumerate([0, 0, 1, 2])))

    assert asyncio.run(main()) == [0, 10, 20, 30]
    assert calls == [[0, 1, 2, 3]]


def test_a_batch_waits_no_more_than_wait_turns():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=16, wait_turns=1)

    async def main():
        return await asyncio.gather(*(_after_turns(batcher, j, t) for j, t in enumerate([0, 0, 1, 2, 3])))

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    # The first batch waited its one turn and took job 2; the later jobs came one per turn, alone.
    assert calls == [[0, 1, 2], [3], [4]]


def test_without_waiting_each_turn_makes_its_own_batch():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=16, wait_turns=0)

    async def main():
        return await asyncio.gather(*(_after_turns(batcher, j, 3 * j) for j in range(3)))

    assert asyncio.run(main()) == [0, 10, 20]
    assert calls == [[0], [1], [2]]


def test_a_lone_job_does_not_wait_for_a_job_two_turns_later():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=16, wait_turns=3)

    async def main():
        return await asyncio.gather(batcher.submit(0), _after_turns(batcher, 1, 3))

    assert asyncio.run(main()) == [0, 10]
    assert calls == [[0], [1]]  # nothing joined in its turn: it ran without waiting


def test_wait_turns_must_not_be_negative():
    with pytest.raises(ValueError, match="wait_turns"):
        LoopBatcher(_recording([]), max_jobs=1, wait_turns=-1)


def test_max_jobs_splits_a_turn_into_several_batches():
    calls = []
    batcher = LoopBatcher(_recording(calls), max_jobs=2)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(5)))

    assert asyncio.run(main()) == [0, 10, 20, 30, 40]
    assert calls == [[0, 1], [2, 3], [4]]


def test_a_failing_run_fails_only_the_job_that_fails_alone():
    calls = []

    def run(jobs):
        calls.append(list(jobs))
        if 0 in jobs:
            raise OSError("job 0 is bad")
        return list(jobs)

    batcher = LoopBatcher(run, max_jobs=2)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(3)), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert isinstance(first, OSError) and second == 1 and third == 2
    assert calls == [[0, 1], [2], [0], [1]]  # the failed batch ran again job by job


def test_a_shared_error_fails_the_whole_batch_without_reruns():
    calls = []

    def run(jobs):
        calls.append(list(jobs))
        raise ConnectionError("store out")

    batcher = LoopBatcher(run, max_jobs=8, shared_errors=(ConnectionError,))

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(3)), return_exceptions=True)

    assert all(isinstance(r, ConnectionError) for r in asyncio.run(main()))
    assert calls == [[0, 1, 2]]


def test_an_exception_as_a_result_fails_that_job_alone():
    batcher = LoopBatcher(lambda jobs: [ValueError(j) if j == 1 else j for j in jobs], max_jobs=8)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(3)), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert (first, third) == (0, 2) and isinstance(second, ValueError)


def test_an_async_run_is_awaited_and_isolates_failures_too():
    async def run(jobs):
        await asyncio.sleep(0.01)
        if 1 in jobs:
            raise ArithmeticError("job 1 overflows")
        return [j * 10 for j in jobs]

    batcher = LoopBatcher(run, max_jobs=8)

    async def main():
        return await asyncio.gather(*(batcher.submit(j) for j in range(4)), return_exceptions=True)

    out = asyncio.run(main())
    assert [out[0], out[2], out[3]] == [0, 20, 30] and isinstance(out[1], ArithmeticError)


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


def test_with_one_run_in_flight_later_jobs_wait_and_go_together():
    calls = []
    release = asyncio.Event()

    async def run(jobs):
        calls.append(list(jobs))
        if len(calls) == 1:
            await release.wait()  # the first batch's store write, still going
        return [j * 10 for j in jobs]

    batcher = LoopBatcher(run, max_jobs=8, max_in_flight=1)

    async def main():
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.01)  # the first run is in flight
        later = [asyncio.ensure_future(batcher.submit(j)) for j in (1, 2)]
        await asyncio.sleep(0.01)
        assert calls == [[0]]  # held back while the first run is in flight
        more = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0)
        release.set()
        return await asyncio.gather(first, *later, more)

    assert asyncio.run(main()) == [0, 10, 20, 30]
    assert calls == [[0], [1, 2, 3]]  # everything that waited went as one batch


def test_a_failed_run_in_flight_still_lets_the_next_batch_go():
    calls = []

    async def run(jobs):
        calls.append(list(jobs))
        await asyncio.sleep(0.005)
        if jobs == [0]:
            raise LookupError("store down")
        return [j * 10 for j in jobs]

    batcher = LoopBatcher(run, max_jobs=8, shared_errors=(LookupError,), max_in_flight=1)

    async def main():
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        second = asyncio.ensure_future(batcher.submit(1))
        return await asyncio.gather(first, second, return_exceptions=True)

    first, second = asyncio.run(main())
    assert isinstance(first, LookupError) and second == 10


def test_max_in_flight_must_be_positive():
    with pytest.raises(ValueError, match="max_in_flight"):
        LoopBatcher(lambda jobs: jobs, max_jobs=1, max_in_flight=0)
