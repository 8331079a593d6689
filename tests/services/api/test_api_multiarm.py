"""A 3-arm model behind the API (TestClient): effects per arm, Thompson over three arms, feedback;
and a continuous-outcome (spend) model whose /optimize values effects in dollars."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.trainer.data import from_market
from services.trainer.pipeline import train
from services.trainer.settings import TrainerSettings
from shared.bundle import ModelBundle
from shared.datasets import HILLSTROM_PATH
from shared.synthetic import MarketConfig, generate_market
from tests.services.trainer.conftest import train_hillstrom

ARMS = ["0", "1", "2"]


@pytest.fixture(scope="module")
def three_arm_models(tmp_path_factory: pytest.TempPathFactory, test_seed: int) -> Path:
    out = tmp_path_factory.mktemp("models3")
    market = generate_market(MarketConfig(rows=30_000, seed=test_seed, n_arms=3, impression_users=3_000))
    train(
        from_market(market),
        out,
        TrainerSettings(n_jobs=2, max_trees=80, holdout_sample_rows=500, learner="x"),
    )
    return out


def make_client(models: Path, tmp_path: Path) -> TestClient:
    return TestClient(create_app(ApiSettings(models_dir=models, data_dir=tmp_path / "var", max_batch=500)))


@pytest.fixture()
def client3(three_arm_models: Path, tmp_path: Path) -> Iterator[TestClient]:
    with make_client(three_arm_models, tmp_path) as c:
        yield c


def users_of(models: Path, n: int) -> list[dict[str, Any]]:
    bundle = ModelBundle.load_current(models, use_onnx=False)
    frame = pd.read_parquet(bundle.path / "holdout_sample.parquet").head(n)
    return [
        {"user_id": str(r["user_id"]), "features": {k: r[k] for k in bundle.schema.names}}
        for r in frame.astype(object).to_dict(orient="records")
    ]


def reference(models: Path, users: list[dict[str, Any]]) -> np.ndarray:
    bundle = ModelBundle.load_current(models, use_onnx=False)
    X, _ = bundle.schema.encode_frame(pd.DataFrame([u["features"] for u in users]))
    return bundle.predict_outcomes(X)


def test_model_lists_the_three_arms(client3):
    body = client3.get("/model").json()
    assert body["data"]["arms"] == ARMS and body["data"]["control"] == "0"
    # The X-learner: three outcome models, then each arm's two stage-2 effect boosters.
    spec = body["uplift_model"]
    assert spec["kind"] == "effect" and spec["learner"] == "x" and spec["n_outcome_boosters"] == 3
    assert spec["booster_files"][:3] == ["outcome_arm0.ubj", "outcome_arm1.ubj", "outcome_arm2.ubj"]
    assert spec["booster_files"][3:] == [f"effect_{j}.ubj" for j in range(4)]
    assert [len(arm) for arm in spec["member_files"]] == [8, 8]
    assert body["learner"]["chosen"] == "x" and "signal" in body["verdict"]


def test_predict_returns_every_arms_effect(client3, three_arm_models):
    users = users_of(three_arm_models, 40)
    res = client3.post("/predict", json={"users": users})
    assert res.status_code == 200, res.text
    preds = res.json()["predictions"]
    mu = reference(three_arm_models, users)
    for p, row in zip(preds, mu, strict=True):
        assert set(p["effects"]) == {"1", "2"}
        np.testing.assert_allclose([p["effects"]["1"], p["effects"]["2"]], row[1:] - row[0], atol=1e-5)
        assert p["cate"] == pytest.approx(max(row[1:] - row[0]), abs=1e-5)
        assert p["p_treated"] == pytest.approx(max(row[1:]), abs=1e-5)


def test_optimize_picks_among_three_arms_and_learns_from_feedback(client3, three_arm_models):
    users = users_of(three_arm_models, 300)
    policy = {"budget": 1e6, "cost_per_treatment": 0.0, "value_per_conversion": 10.0, "seed": 5}
    body = client3.post("/optimize", json={"users": users, "policy": policy}).json()
    arms = [d["arm"] for d in body["decisions"]]
    assert set(arms) <= set(ARMS) and len(set(arms)) >= 2
    for d in body["decisions"]:
        assert 0 < d["propensity"] <= 1 and set(d["effects"]) == {"1", "2"}
    # Same seed, same draws.
    again = client3.post("/optimize", json={"users": users, "policy": policy}).json()
    assert arms == [d["arm"] for d in again["decisions"]]
    # No budget: everyone gets control with certainty.
    none = client3.post(
        "/optimize",
        json={"users": users[:20], "policy": {**policy, "budget": 0.0, "cost_per_treatment": 1.0}},
    )
    assert {d["arm"] for d in none.json()["decisions"]} == {"0"}
    d2 = next(d for d in body["decisions"] if d["arm"] != "0")
    fb = client3.post("/feedback", json={"assignment_id": d2["assignment_id"], "reward": 1})
    assert fb.status_code == 200 and fb.json()["arm"] == d2["arm"]
    posts = client3.get("/bandit").json()["arms"]
    assert {p["arm"] for p in posts} == set(ARMS)
    hit = [p for p in posts if p["arm"] == d2["arm"] and p["segment"] == d2["segment"]]
    assert hit[0]["successes"] == 1


@pytest.fixture(scope="module")
def spend_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_hillstrom(tmp_path_factory.mktemp("spend"), "spend", "t")


def test_continuous_outcome_model_serves_dollar_effects(spend_models, tmp_path):
    raw = pd.read_csv(HILLSTROM_PATH).head(30)
    bundle = ModelBundle.load_current(spend_models, use_onnx=False)
    users = [
        {"user_id": str(i), "features": {k: r[k] for k in bundle.schema.names}}
        for i, r in enumerate(raw.astype(object).to_dict(orient="records"))
    ]
    with make_client(spend_models, tmp_path) as c:
        info = c.get("/model").json()
        assert info["data"]["outcome_kind"] == "continuous"
        assert "value_per_conversion = 1" in info["data"]["optimize_rule"]
        preds = c.post("/predict", json={"users": users}).json()["predictions"]
        mu = reference(spend_models, users)
        np.testing.assert_allclose([p["p_control"] for p in preds], mu[:, 0], atol=1e-4)
        policy = {"budget": 10.0, "cost_per_treatment": 0.5, "value_per_conversion": 1.0, "seed": 3}
        body = c.post("/optimize", json={"users": users, "policy": policy})
        assert body.status_code == 200, body.text
        decisions = body.json()["decisions"]
        assert {d["arm"] for d in decisions} <= {"No E-Mail", "Mens E-Mail", "Womens E-Mail"}
        assert sum(d["arm"] != "No E-Mail" for d in decisions) <= 20
