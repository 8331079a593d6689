"""Start-up: ready with ONNX checked; XGBoost and scipy arrive in the background, reload reads all."""

import sys
import time

from fastapi.testclient import TestClient

from services.api.main import create_app


def test_boosters_load_after_start_and_reload_reads_everything(settings):
    with TestClient(create_app(settings)) as client:
        state = client.app.state.uplift  # type: ignore[attr-defined]
        assert client.get("/ready").json()["serving_format"] == "onnx"
        deadline = time.monotonic() + 30
        while state.model.bundle.loaded_boosters is None or state.model.bundle.loaded_ranker is None:
            assert time.monotonic() < deadline, "the warm-up thread never loaded the boosters"
            time.sleep(0.05)
        assert "scipy.special" in sys.modules
        res = client.post("/admin/reload")
        assert res.status_code == 200
        fresh = state.model.bundle
        assert fresh.loaded_boosters is not None and fresh.loaded_ranker is not None
