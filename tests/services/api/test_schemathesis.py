"""schemathesis against a live server whose OpenAPI document carries the real feature schema:
over 1,000 generated requests across every operation, every check passing, no server error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.services.api.conftest import run_api

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
KEY = "fuzz-key"


def _requests_by_status(metrics: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("uplift_http_requests_total{") and 'route="/metrics"' not in line:
            status = re.search(r'status="(\d+)"', line)
            assert status is not None
            out[status.group(1)] = out.get(status.group(1), 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def test_schemathesis_finds_nothing(trained_models: Path, tmp_path: Path) -> None:
    env = {
        "UPLIFT_MODELS_DIR": str(trained_models),
        "UPLIFT_DATA_DIR": str(tmp_path / "var"),
        "UPLIFT_API_KEY": KEY,
    }
    with run_api(env) as (url, _):
        spec = httpx.get(f"{url}/openapi.json").json()
        assert spec["components"]["schemas"]["Features"]["required"]  # the real feature schema
        argv = [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG),
            "run", f"{url}/openapi.json", "--checks", "all", "-H", f"X-API-Key: {KEY}",
            "--max-examples", "40", "--seed", "20261123", "--workers", "1", "--no-color",
        ]  # fmt: skip
        # Its own cache and Hypothesis database go to the test's folder, not the repository.
        run = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
        by_status = _requests_by_status(httpx.get(f"{url}/metrics").text)
    report = run.stdout[-4000:]
    assert run.returncode == 0, report
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated is not None and int(generated.group(1)) >= 1000, report
    assert sum(by_status.values()) >= 1000, by_status
    assert not {s for s in by_status if s.startswith("5") and s != "503"}, by_status
    assert by_status.get("503", 0) == 0, by_status  # nothing overloaded or out: every 503 would be a bug here
