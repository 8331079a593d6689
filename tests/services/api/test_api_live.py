"""A real uvicorn process: end to end, two replicas on one Redis, and a SIGKILL mid-stream."""

import signal
import uuid

import httpx

from tests.services.api.conftest import run_api


def _policy(seed):
    return {"budget": 1000.0, "cost_per_treatment": 0.0, "value_per_conversion": 1.0, "seed": seed}


def test_end_to_end_over_http(trained_models, tmp_path, users):
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    with run_api(env) as (url, _):
        res = httpx.post(f"{url}/optimize", json={"users": users[:5], "policy": _policy(1)}).json()
        for d in res["decisions"]:
            fb = httpx.post(f"{url}/feedback", json={"assignment_id": d["assignment_id"], "reward": 1})
            assert fb.status_code == 200
        bad = httpx.post(f"{url}/predict", json={"users": [{"user_id": "a", "features": {}}]})
        assert bad.status_code == 422
        assert httpx.get(f"{url}/docs").status_code == 200
        assert "/optimize" in httpx.get(f"{url}/openapi.json").json()["paths"]


def test_two_replicas_share_bandit_state_in_redis(trained_models, tmp_path, users, redis_url):
    env = {
        "UPLIFT_MODELS_DIR": str(trained_models),
        "UPLIFT_BANDIT_URL": redis_url,
        "UPLIFT_BANDIT_NAMESPACE": f"test-{uuid.uuid4().hex[:8]}",
    }
    with run_api(env) as (a, _), run_api(env) as (b, _):
        d = httpx.post(f"{a}/optimize", json={"users": users[:1], "policy": _policy(2)}).json()["decisions"][
            0
        ]
        assert (
            httpx.post(f"{b}/feedback", json={"assignment_id": d["assignment_id"], "reward": 1}).json()[
                "status"
            ]
            == "applied"
        )
        assert (
            httpx.post(f"{a}/feedback", json={"assignment_id": d["assignment_id"], "reward": 1}).json()[
                "status"
            ]
            == "duplicate"
        )
        import time

        time.sleep(0.6)  # short-lived cached posteriors expire
        for url in (a, b):
            arms = httpx.get(f"{url}/bandit").json()["arms"]
            hit = next(x for x in arms if (x["segment"], x["arm"]) == (d["segment"], d["arm"]))
            assert hit["successes"] == 1 and httpx.get(f"{url}/bandit").json()["backend"] == "redis"


def test_sigkill_during_feedback_stream_loses_nothing_acknowledged(trained_models, tmp_path, users):
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    acked = []
    with run_api(env) as (url, proc):
        decisions = []
        for seed in range(4):
            decisions += httpx.post(
                f"{url}/optimize", json={"users": users[:50], "policy": _policy(seed)}
            ).json()["decisions"]
        with httpx.Client(base_url=url, timeout=5) as c:
            for i, d in enumerate(decisions):
                if i == 120:
                    proc.send_signal(signal.SIGKILL)
                try:
                    r = c.post("/feedback", json={"assignment_id": d["assignment_id"], "reward": 1})
                except httpx.TransportError:
                    break
                if r.status_code == 200:
                    acked.append(d)
    assert len(acked) >= 120
    with run_api(env) as (url, _):
        for d in acked:
            again = httpx.post(f"{url}/feedback", json={"assignment_id": d["assignment_id"], "reward": 1})
            assert again.json()["status"] == "duplicate"
        total = sum(a["successes"] for a in httpx.get(f"{url}/bandit").json()["arms"])
        assert total == len(acked)
