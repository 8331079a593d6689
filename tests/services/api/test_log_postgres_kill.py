"""Kill -9 of a real `uplift serve` logging to PostgreSQL: every acknowledged assignment and reward is in the log."""

import signal
import threading
import time

import httpx
import pytest

from shared.assignment_log import open_log
from tests.services.api.conftest import run_api


def test_kill_9_mid_stream_loses_no_acknowledged_assignment_or_reward(
    trained_models, tmp_path, users, postgres_schema_url
):
    env = {
        "UPLIFT_MODELS_DIR": str(trained_models),
        "UPLIFT_DATA_DIR": str(tmp_path / "var"),
        "UPLIFT_LOG_URL": postgres_schema_url,
    }
    policy = {"budget": 1e6, "cost_per_treatment": 0.5, "value_per_conversion": 20.0}
    assigned: dict[str, dict] = {}  # acknowledged assignments
    rewarded: dict[str, int] = {}  # acknowledged rewards
    with run_api(env) as (url, proc), httpx.Client(base_url=url, timeout=5) as c:
        # The kill comes from another thread while the stream goes on: it may land inside a request.
        go = threading.Event()
        killer = threading.Thread(
            target=lambda: go.wait() and (time.sleep(0.002), proc.send_signal(signal.SIGKILL))
        )
        killer.start()
        for i in range(2000):
            if i == 150:
                go.set()
            try:
                res = c.post(
                    "/optimize", json={"users": [users[i % len(users)]], "policy": {**policy, "seed": i}}
                )
                if res.status_code != 200:
                    continue
                d = res.json()["decisions"][0]
                assigned[d["assignment_id"]] = d
                fb = c.post("/feedback", json={"assignment_id": d["assignment_id"], "reward": i % 2})
                if fb.status_code == 200:
                    rewarded[d["assignment_id"]] = i % 2
            except httpx.TransportError:
                break
        killer.join()
        assert proc.wait(10) == -signal.SIGKILL
    assert len(rewarded) >= 140
    with run_api(env) as (url, _):  # a restart reads the same log and answers repeats as such
        for aid, reward in list(rewarded.items())[-5:]:
            again = httpx.post(f"{url}/feedback", json={"assignment_id": aid, "reward": reward})
            assert again.json()["status"] == "duplicate"
    with open_log(postgres_schema_url) as log:
        assert log.backend == "postgresql"
        logged = {e.row.assignment_id: e for e in log.iter_rows()}
    for aid, d in assigned.items():
        assert aid in logged
        assert (logged[aid].row.arm, logged[aid].row.propensity) == (d["arm"], pytest.approx(d["propensity"]))
    for aid, reward in rewarded.items():
        assert logged[aid].reward == reward
