"""`uplift serve --workers 2`: a reload reaches both workers, and /metrics adds up across them."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from shared.artifacts import resolve_current, set_current
from tests.services.api.conftest import run_api

pytestmark = pytest.mark.slow


def _new_version(models: Path, name: str) -> None:
    """A second version (a copy of the current one under a new name), made current."""
    version_dir, _ = resolve_current(models)
    shutil.copytree(version_dir, models / name)
    raw = json.loads((models / name / "manifest.json").read_text())
    raw["version"] = name
    (models / name / "manifest.json").write_text(json.dumps(raw))
    set_current(models, name)


def _predict_total(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("uplift_http_requests_total{") and 'route="/predict"' in line
    )


def _pids_serving(data: Path) -> dict[int, str]:
    out = {}
    for path in (data / "reload").glob("worker-*.json"):
        raw = json.loads(path.read_text())
        out[raw["pid"]] = raw["version"]
    return out


def test_two_workers_agree_after_a_reload_and_metrics_add_up(trained_models, tmp_path, users):
    models, data = tmp_path / "models", tmp_path / "var"
    shutil.copytree(trained_models, models)
    old = resolve_current(models)[0].name
    env = {"UPLIFT_MODELS_DIR": str(models), "UPLIFT_DATA_DIR": str(data)}
    with run_api(env, extra_args=("--workers", "2")) as (url, _):
        deadline = time.monotonic() + 60
        while len(_pids_serving(data)) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.2)
        sent = 200
        for i in range(sent):  # a new connection each: the kernel hands them to either worker
            assert httpx.post(f"{url}/predict", json={"users": [users[i % len(users)]]}).status_code == 200
        for _ in range(6):
            assert _predict_total(httpx.get(f"{url}/metrics").text) == sent

        _new_version(models, "v-second")
        res = httpx.post(f"{url}/admin/reload", timeout=60)
        assert res.status_code == 200
        body = res.json()
        assert (body["previous_version"], body["model_version"]) == (old, "v-second")
        assert body["all_workers_serving"] is True
        assert len(body["workers"]) == 2 and {w["version"] for w in body["workers"]} == {"v-second"}
        versions = [httpx.get(f"{url}/ready").json()["model_version"] for _ in range(200)]
        assert set(versions) == {"v-second"}
