"""Realistic traffic for the inference API: scoring visits, and campaigns that assign then report back.

    uv run locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 60s

Users are real rows of the serving model's held-out sample (``UPLIFT_MODELS_DIR``, default
``models``). Rewards are drawn with the seeded generator below (``UPLIFT_LOCUST_SEED``), so two runs
send the same feedback stream. Locust costs ~0.6 ms of client CPU per request on this machine: use
``loadtests/bench_latency.py`` for latency figures, this file for mixed-flow soak and correctness.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pandas as pd
from locust import HttpUser, between, task

MODELS_DIR = Path(os.environ.get("UPLIFT_MODELS_DIR", "models"))
SEED = int(os.environ.get("UPLIFT_LOCUST_SEED", "7"))
API_KEY = os.environ.get("UPLIFT_API_KEY")


def _load_users(models: Path, n: int = 2000) -> list[dict[str, Any]]:
    version = (models / "CURRENT").read_text().strip()
    manifest = json.loads((models / version / "manifest.json").read_text())
    names = [f["name"] for f in manifest["features"]["features"]]
    frame = pd.read_parquet(models / version / "holdout_sample.parquet").head(n)
    rows = frame[names].astype(object).to_dict(orient="records")
    return [{"user_id": f"u{i}", "features": r} for i, r in enumerate(rows)]


USERS = _load_users(MODELS_DIR)


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
