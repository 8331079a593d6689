"""A fresh campaign ledger per test on each backend: a SQLite file, or a Redis namespace of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.campaigns import CampaignLedger, open_ledger


@pytest.fixture(params=["sqlite", "redis"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CampaignLedger]:
    if request.param == "sqlite":
        handle = open_ledger("sqlite:///unused.db", sqlite_dir=tmp_path / "var")
    else:
        url = request.getfixturevalue("redis_url")
        handle = open_ledger(url, namespace=request.getfixturevalue("redis_namespace"))
    yield handle
    handle.close()
