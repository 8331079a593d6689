"""The locust flows run against a real API: every request succeeds and feedback reaches the bandit."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.services.api.conftest import run_api

LOCUSTFILE = Path(__file__).parents[2] / "loadtests" / "locustfile.py"


@pytest.mark.slow
def test_locust_flows_run_clean(trained_models: Path, tmp_path: Path) -> None:
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    with run_api(env) as (url, _):
        # A run of fixed length: on a loaded machine (CI beside other jobs) locust's own start-up and the
        # first requests can take seconds, so the window is long and the count asked for small.
        argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", url, "--headless"]
        argv += ["-u", "4", "-r", "4", "-t", "20s", "--csv", str(tmp_path / "run"), "--only-summary"]
        done = subprocess.run(
            argv, check=False, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        with (tmp_path / "run_stats.csv").open() as f:
            rows = {r["Name"]: r for r in csv.DictReader(f)}
        assert int(rows["Aggregated"]["Request Count"]) >= 10
        assert int(rows["Aggregated"]["Failure Count"]) == 0
        assert int(rows["/feedback"]["Request Count"]) > 0
        observed = sum(a["successes"] + a["failures"] for a in httpx.get(f"{url}/bandit").json()["arms"])
        # Every reward locust saw acknowledged is in the posteriors (locust's summary can miss requests
        # that were in flight when the run's time was up, so it may count fewer than the server).
        assert observed >= int(rows["/feedback"]["Request Count"]) > 0
