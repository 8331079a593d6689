"""Fixtures shared by the whole suite: small seeded markets and one trained model per session."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

# Keep XGBoost / OpenMP from oversubscribing the CI machine while several processes run.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# Models trained by CLI tests fit the T-learner alone unless a test asks for the selection: six learners
# cross-fitted three times would multiply the suite's time without testing anything new there.
os.environ.setdefault("UPLIFT_LEARNER", "t")

# Dask's scratch files (locks, spilled data of in-process LocalClusters and of the CLI's children) go to a
# folder of this session, removed at its end, instead of /tmp/dask-scratch-space.
_DASK_SCRATCH = tempfile.mkdtemp(prefix="uplift-tests-dask-")
os.environ.setdefault("DASK_TEMPORARY_DIRECTORY", _DASK_SCRATCH)

TEST_SEED = 20261123


@pytest.fixture(scope="session", autouse=True)
def _remove_dask_scratch() -> Iterator[None]:
    yield
    shutil.rmtree(_DASK_SCRATCH, ignore_errors=True)


REDIS_URL = os.environ.get("UPLIFT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
POSTGRES_URL = os.environ.get("UPLIFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_START_POSTGRES = (
    "start one with `.ci/run` (it installs and starts PostgreSQL when none answers), or "
    "`pg_ctlcluster <version> main start` and `createdb -U postgres test`; "
    "or point UPLIFT_TEST_POSTGRES_URL at a server with trust auth"
)


@pytest.fixture(scope="session")
def test_seed() -> int:
    return TEST_SEED


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models/ folder with one current version trained on a small seeded market."""
    from services.trainer.data import from_market
    from services.trainer.pipeline import train
    from services.trainer.settings import TrainerSettings
    from shared.synthetic import MarketConfig, generate_market

    out = tmp_path_factory.mktemp("models")
    market = generate_market(MarketConfig(rows=40_000, seed=TEST_SEED, impression_users=5_000))
    # The DR-learner: the API tests then serve the direct-effect form (outcome + effect boosters).
    train(from_market(market), out, TrainerSettings(n_jobs=2, holdout_sample_rows=2_000, learner="dr"))
    return out


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis (CI starts one). Missing Redis fails loudly unless UPLIFT_SKIP_REDIS=1."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("UPLIFT_SKIP_REDIS") == "1":
            pytest.skip(f"no Redis at {REDIS_URL} and UPLIFT_SKIP_REDIS=1")
        pytest.fail(f"no Redis answers at {REDIS_URL} ({exc}); start one or set UPLIFT_TEST_REDIS_URL")
    return REDIS_URL


@pytest.fixture()
def redis_namespace(redis_url: str) -> Iterator[str]:
    ns = f"test-{uuid.uuid4().hex[:10]}"
    yield ns
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{ns}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A real PostgreSQL URL whose search_path is a schema made for this test alone; dropped afterwards."""
    with postgres_schema() as url:
        yield url


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A real PostgreSQL URL whose search_path is a schema of its own, dropped on leaving."""
    import psycopg

    schema = f"uplift_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL does not answer at {POSTGRES_URL} ({exc}); {HOW_TO_START_POSTGRES}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
