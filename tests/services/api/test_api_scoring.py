import numpy as np
import pytest

from services.api.main import create_app
from shared.bundle import ModelBundle
from shared.effect_form import combine


def test_predict_matches_the_model(client, users, trained_models):
    res = client.post("/predict", json={"users": users[:20]})
    assert res.status_code == 200
    body = res.json()
    bundle = ModelBundle.load_current(trained_models, use_onnx=False)
    X = bundle.schema.encode_records([u["features"] for u in users[:20]])
    raw = np.column_stack([b.inplace_predict(X) for b in bundle.boosters])
    # The fixture's DR-learner: outcome models per arm, then the effect booster (shared.effect_form).
    n = len(bundle.arms)
    mu = combine(raw[:, :n], raw[:, n:], bundle.effect_form)
    assert bundle.manifest.uplift_model.kind == "effect"
    np.testing.assert_allclose(mu[:, 1] - mu[:, 0], raw[:, n], atol=1e-6)
    cate = [p["cate"] for p in body["predictions"]]
    np.testing.assert_allclose(cate, mu[:, 1] - mu[:, 0], atol=1e-5)
    np.testing.assert_allclose([p["p_control"] for p in body["predictions"]], mu[:, 0], atol=1e-5)
    seg = bundle.segments(mu[:, 1:] - mu[:, :1])
    assert [p["segment"] for p in body["predictions"]] == list(seg)
    assert body["model_version"] == bundle.version


def test_optimize_respects_budget_and_is_seeded(client, users):
    policy = {"budget": 5.0, "cost_per_treatment": 1.0, "value_per_conversion": 30.0, "seed": 11}
    first = client.post("/optimize", json={"users": users[:40], "policy": policy}).json()
    again = client.post("/optimize", json={"users": users[:40], "policy": policy}).json()
    arms = [d["arm"] for d in first["decisions"]]
    assert first["seed"] == 11
    assert arms == [d["arm"] for d in again["decisions"]]
    assert sum(a != "0" for a in arms) <= 5
    assert first["policy"]["cost"] <= 5.0
    for d in first["decisions"]:
        assert 0 < d["propensity"] <= 1
        assert len(d["items"]) == 5
    treated = [d for d in first["decisions"] if d["arm"] != "0"]
    control = [d for d in first["decisions"] if d["arm"] == "0"]
    assert treated and control
    # Control gets the top sellers, the treatment arm the ranker's personal list.
    assert len({tuple(d["items"]) for d in control}) == 1
    assert first["treat_all"]["treated"] == 40


def test_feedback_moves_the_posterior(client, users):
    policy = {"budget": 1000.0, "cost_per_treatment": 0.0, "value_per_conversion": 1.0, "seed": 3}
    decisions = client.post("/optimize", json={"users": users[:30], "policy": policy}).json()["decisions"]
    before = {(a["segment"], a["arm"]): a for a in client.get("/bandit").json()["arms"]}
    for d in decisions:
        assert (
            client.post("/feedback", json={"assignment_id": d["assignment_id"], "reward": 1}).json()["status"]
            == "applied"
        )
    assert (
        client.post("/feedback", json={"assignment_id": decisions[0]["assignment_id"], "reward": 1}).json()[
            "status"
        ]
        == "duplicate"
    )
    after = {(a["segment"], a["arm"]): a for a in client.get("/bandit").json()["arms"]}
    d0 = decisions[0]
    key = (d0["segment"], d0["arm"])
    n_same = sum((d["segment"], d["arm"]) == key for d in decisions)
    assert after[key]["successes"] - before[key]["successes"] == n_same
    assert after[key]["mean"] > before[key]["mean"]
    for a in after.values():
        assert a["ci_low"] <= a["mean"] <= a["ci_high"]
    probs = {}
    for a in after.values():
        probs.setdefault(a["segment"], 0.0)
        probs[a["segment"]] += a["prob_best"]
    assert all(v == pytest.approx(1.0, abs=1e-6) for v in probs.values())


def test_recommend_and_model_endpoints(client, users):
    rec = client.post(
        "/recommend", json={"user_id": "a", "features": users[0]["features"], "top_k": 7}
    ).json()
    scores = [i["score"] for i in rec["items"]]
    assert len(scores) == 7 and scores == sorted(scores, reverse=True)
    cands = [i["item_id"] for i in rec["items"][:3]]
    sub = client.post(
        "/recommend", json={"user_id": "a", "features": users[0]["features"], "candidates": cands[::-1]}
    )
    assert [i["item_id"] for i in sub.json()["items"]] == cands
    # The warm-up thread loads the boosters and, with them, the pair scorer; wait for it.
    client.app.state.uplift.model.bundle.load_boosters()
    info = client.get("/model").json()
    assert info["serving_format"] == "onnx" and info["onnx_parity_max_error"] <= 1e-5
    assert info["ranker_format"] == "pair_trees" and info["ranker_onnx_parity_max_error"] <= 1e-5
    assert info["ranker_pair_parity_max_error"] <= 1e-5
    ready = client.get("/ready").json()
    assert ready["serving_format"] == "onnx" and ready["ranker_format"] == "pair_trees"
    assert "arms" in client.get("/model/evaluation").json()
    assert len(client.get("/model/sample", params={"n": 3}).json()["rows"]) == 3
    curve = client.get("/model/policy-curve", params={"points": 11}).json()
    assert (
        curve["share"][0] == 0
        and curve["share"][-1] == 1
        and len(curve["segment_mix"]) == len(curve["share"])
    )
    imp = client.get("/model/importance").json()
    assert set(imp) == {"0", "1"}
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json()["status"] == "ready"
    metrics = client.get("/metrics").text
    assert "uplift_http_requests_total" in metrics and "uplift_assignments_total" in metrics


def test_no_model_means_not_ready_but_alive(tmp_path):
    from fastapi.testclient import TestClient

    from services.api.settings import ApiSettings

    app = create_app(ApiSettings(models_dir=tmp_path / "empty", data_dir=tmp_path / "var"))
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        ready = c.get("/ready")
        assert ready.status_code == 503 and "uplift train" in ready.json()["reason"]
        assert c.post("/predict", json={"users": [{"user_id": "a", "features": {}}]}).status_code == 503
