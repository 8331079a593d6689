"""A fresh assignment log per test on each backend: a SQLite file, or a PostgreSQL schema of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from shared.assignment_log import AssignmentLog, open_log

POSTGRES_URL = os.environ.get("UPLIFT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
HOW_TO_START = (
    "start one with `.ci/run` (it installs and starts PostgreSQL when none answers), or "
    "`pg_ctlcluster <version> main start` and `createdb -U postgres test`; "
    "or point UPLIFT_TEST_POSTGRES_URL at a server with trust auth"
)


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose search_path is a schema made for this test alone; dropped afterwards."""
    import psycopg

    schema = f"uplift_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL does not answer at {POSTGRES_URL} ({exc}); {HOW_TO_START}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            sep = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log' / 'assignments.db'}"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture
def log(log_url: str) -> Iterator[AssignmentLog]:
    opened = open_log(log_url)
    try:
        yield opened
    finally:
        opened.close()
