"""Realistic traffic for the inference API: scoring visits, and campaigns that assign then report back.

    uv run locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 60s

Users are real rows of the serving model's held-out sample (``UPLIFT_MODELS_DIR``, default
``models``). Rewards are drawn with the seeded generator below (``UPLIFT_LOCUST_SEED``), so two runs
send the same feedback stream. Locust costs ~0.6 ms of client CPU per request on this machine: use
``loadtests/bench_latency.py`` for latency figures, this file for mixed-flow soak and correctness.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from locust import HttpUser, between, task

# The benchmark and the load test read users the same way (the serving model's held-out sample).
sys.path.insert(0, str(Path(__file__).parent))
from bench_latency import users_from

MODELS_DIR = Path(os.environ.get("UPLIFT_MODELS_DIR", "models"))
SEED = int(os.environ.get("UPLIFT_LOCUST_SEED", "7"))
API_KEY = os.environ.get("UPLIFT_API_KEY")


USERS = users_from(MODELS_DIR, 2000)


class ApiUser(HttpUser):
    wait_time = between(0.01, 0.1)

    def on_start(self) -> None:
        self.rng = random.Random(SEED)
        self.headers = {"x-api-key": API_KEY} if API_KEY else {}

    @task(5)
    def predict_one(self) -> None:
        self.client.post("/predict", json={"users": [self.rng.choice(USERS)]})

    @task(1)
    def predict_batch(self) -> None:
        start = self.rng.randrange(0, len(USERS) - 100)
        self.client.post("/predict", json={"users": USERS[start : start + 100]}, name="/predict [100]")

    @task(3)
    def optimize_then_feedback(self) -> None:
        users = self.rng.sample(USERS, 10)
        policy = {"budget": 5.0, "cost_per_treatment": 0.5, "value_per_conversion": 20.0}
        with self.client.post(
            "/optimize", json={"users": users, "policy": policy}, catch_response=True
        ) as res:
            if res.status_code != 200:
                res.failure(f"optimize answered {res.status_code}")
                return
            decisions = res.json()["decisions"]
        for d in decisions:
            reward = int(self.rng.random() < 0.1)
            self.client.post(
                "/feedback",
                json={"assignment_id": d["assignment_id"], "reward": reward},
                headers=self.headers,
            )

    @task(1)
    def bandit_state(self) -> None:
        self.client.get("/bandit")
