"""StoreGuard: bounded waits, fail-fast during an outage, probes that end it, one log line per edge."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time

import pytest

from services.api.store_guard import StoreGuard, StoreUnavailable


def test_a_slow_call_is_abandoned_within_the_timeout_and_the_outage_logged_once(caplog):
    release = threading.Event()
    guard = StoreGuard(timeout_s=0.2, retry_after_s=3, probe_interval_s=60)

    async def main():
        t0 = time.monotonic()
        with pytest.raises(StoreUnavailable) as first:
            await guard.call(lambda: release.wait(5), "counts")
        elapsed = time.monotonic() - t0
        # Down: the next calls are refused at once, without touching the store.
        t1 = time.monotonic()
        for _ in range(20):
            with pytest.raises(StoreUnavailable):
                await guard.call(lambda: 1, "counts")
        return first.value, elapsed, time.monotonic() - t1

    with caplog.at_level(logging.WARNING, logger="uplift.api"):
        exc, elapsed, refused_in = asyncio.run(main())
    release.set()
    guard.close()
    assert 0.2 <= elapsed < 0.6 and refused_in < 0.1
    assert exc.retry_after_s == 3 and "within 0.2 s" in exc.rule
    assert [r.getMessage() for r in caplog.records] == [
        "bandit store unavailable (outage 1): counts took longer than 0.2 s"
    ]


def test_a_probe_after_the_interval_ends_the_outage_by_itself(caplog):
    now = [0.0]
    guard = StoreGuard(timeout_s=1.0, retry_after_s=1, probe_interval_s=0.5, clock=lambda: now[0])
    failing = [True]

    def call():
        if failing[0]:
            raise sqlite3.OperationalError("database is locked")
        return "ok"

    async def main():
        with pytest.raises(StoreUnavailable):
            await guard.call(call, "counts")
        failing[0] = False
        with pytest.raises(StoreUnavailable):  # before the probe interval: not attempted
            await guard.call(call, "counts")
        now[0] = 0.6
        return await guard.call(call, "counts")

    with caplog.at_level(logging.WARNING, logger="uplift.api"):
        assert asyncio.run(main()) == "ok"
    guard.close()
    assert guard.is_up and guard.outages == 1
    assert len(caplog.records) == 2 and "answers again" in caplog.records[1].getMessage()


def test_a_write_outage_ends_only_when_a_write_gets_through():
    now = [0.0]
    guard = StoreGuard(timeout_s=1.0, retry_after_s=1, probe_interval_s=0.5, clock=lambda: now[0])
    locked = [True]

    def write():
        if locked[0]:
            raise sqlite3.OperationalError("database is locked")

    async def main():
        with pytest.raises(StoreUnavailable):
            await guard.call(write, "record_assignments", writes=True)
        now[0] = 1.0
        assert await guard.call(lambda: 7, "counts") == 7  # a read probe answers...
        assert not guard.is_up  # ...but says nothing about the write lock
        locked[0] = False
        await guard.call(write, "record_assignments", writes=True)  # its own probe turn, not the read's
        return guard.is_up

    assert asyncio.run(main())
    guard.close()


def test_errors_that_are_not_the_stores_pass_through_and_leave_it_up():
    guard = StoreGuard(timeout_s=1.0, retry_after_s=1)

    def bad():
        raise KeyError("no such assignment")

    with pytest.raises(KeyError):
        asyncio.run(guard.call(bad, "record_reward"))
    guard.close()
    assert guard.is_up and guard.outages == 0


@pytest.mark.parametrize(
    "error", [sqlite3.OperationalError("database is locked"), ConnectionRefusedError(111, "refused")]
)
def test_store_errors_answer_503_and_open_an_outage(error):
    guard = StoreGuard(timeout_s=1.0, retry_after_s=1)

    def fails():
        raise error

    with pytest.raises(StoreUnavailable):
        asyncio.run(guard.call(fails, "record_reward"))
    guard.close()
    assert not guard.is_up and guard.outages == 1


def test_a_redis_error_is_a_store_error_once_the_client_is_loaded():
    import redis

    guard = StoreGuard(timeout_s=1.0, retry_after_s=1)

    def fails():
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    with pytest.raises(StoreUnavailable):
        asyncio.run(guard.call(fails, "record_reward"))
    guard.close()
    assert guard.outages == 1


def test_the_server_starts_without_importing_redis_or_pandas():
    # `uplift serve` on the embedded store: the Redis client and pandas cost start-up time (/ready).
    import subprocess
    import sys

    code = (
        "import sys, services.cli, services.api.main; print(sorted({'redis', 'pandas'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
