"""Fixtures for the bandit stores: a SQLite file per test, a real Redis with a throwaway namespace."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from shared.bandit import BanditStore
from shared.bandit.redis_store import RedisBanditStore
from shared.bandit.sqlite_store import SqliteBanditStore

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture(scope="session")
def redis_server_url() -> str:
    """A Redis that answers (CI starts one): UPLIFT_TEST_REDIS_URL or db 15 on localhost.

    No answer is a test failure, not a silent skip, unless UPLIFT_SKIP_REDIS=1 says so.
    """
    url = os.environ.get("UPLIFT_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("UPLIFT_SKIP_REDIS") == "1":
            pytest.skip(f"no Redis at {url} and UPLIFT_SKIP_REDIS=1")
        pytest.fail(
            f"no Redis answers at {url} ({exc}). Start one (redis-server --port 6379), point "
            "UPLIFT_TEST_REDIS_URL at one, or set UPLIFT_SKIP_REDIS=1 to skip the Redis tests.",
            pytrace=False,
        )
    return url


@pytest.fixture()
def redis_client(redis_server_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture()
def bandit_namespace(redis_client: redis.Redis) -> Iterator[str]:
    """A namespace no other test uses; its keys are deleted afterwards."""
    namespace = f"test-bandit-{uuid.uuid4().hex[:12]}"
    yield namespace
    keys = list(redis_client.scan_iter(f"{namespace}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture()
def make_redis_store(
    redis_server_url: str, bandit_namespace: str
) -> Iterator[Callable[..., RedisBanditStore]]:
    """Opens RedisBanditStores ("replicas") on the test's namespace; all are closed at the end."""
    opened: list[RedisBanditStore] = []

    def make(**kwargs: object) -> RedisBanditStore:
        store = RedisBanditStore(redis_server_url, namespace=bandit_namespace, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture()
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "bandit.db"


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, sqlite_path: Path) -> Iterator[BanditStore]:
    """Each backend in turn, so one test body states the contract for both."""
    if request.param == "sqlite":
        s: BanditStore = SqliteBanditStore(sqlite_path)
        yield s
        s.close()
    else:
        request.applymarker(pytest.mark.redis)
        yield request.getfixturevalue("make_redis_store")()
