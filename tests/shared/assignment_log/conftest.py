"""A fresh assignment log per test on each backend: a SQLite file, or a PostgreSQL schema of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.assignment_log import AssignmentLog, open_log


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
