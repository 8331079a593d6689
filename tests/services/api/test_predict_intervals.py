"""POST /predict with "interval": each user's effect interval around the served effect."""

import numpy as np

from tests.services.api.conftest import sample_users


def test_interval_surrounds_the_served_effect_and_widens_with_coverage(client, trained_models) -> None:  # type: ignore[no-untyped-def]
    users = sample_users(trained_models, 20)
    plain = client.post("/predict", json={"users": users}).json()["predictions"]
    p90 = client.post("/predict", json={"users": users, "interval": 0.9}).json()["predictions"]
    p50 = client.post("/predict", json={"users": users, "interval": 0.5}).json()["predictions"]
    assert all("effect_intervals" not in p or p["effect_intervals"] is None for p in plain)
    for a, b, c in zip(plain, p90, p50, strict=True):
        assert b["cate"] == a["cate"]  # asking for an interval never changes the point
        lo90, hi90 = b["effect_intervals"]["1"]
        lo50, hi50 = c["effect_intervals"]["1"]
        assert lo90 < lo50 <= b["cate"] <= hi50 < hi90
        assert np.isclose((lo90 + hi90) / 2, b["cate"])


def test_the_numpy_forest_gives_xgboosts_intervals(client, trained_models) -> None:  # type: ignore[no-untyped-def]
    import time

    state = client.app.state.uplift
    deadline = time.monotonic() + 60
    while "members" not in state.model.runtime and time.monotonic() < deadline:
        time.sleep(0.05)  # the warm-up thread builds the forest after start-up
    assert "members" in state.model.runtime
    users = sample_users(trained_models, 30)
    got = client.post("/predict", json={"users": users, "interval": 0.8}).json()["predictions"]
    bundle = state.model.bundle
    X = bundle.schema.encode_records([u["features"] for u in users])
    mu = bundle.xgboost_outcomes(X)
    low, high = bundle.effect_intervals(X, mu[:, 1:] - mu[:, :1], 0.8)
    api = np.array([p["effect_intervals"]["1"] for p in got])
    np.testing.assert_allclose(api[:, 0], low[:, 0], atol=2e-4)
    np.testing.assert_allclose(api[:, 1], high[:, 0], atol=2e-4)


def test_bad_interval_is_a_422_naming_the_field(client, trained_models) -> None:  # type: ignore[no-untyped-def]
    users = sample_users(trained_models, 1)
    for bad in (0.0, 0.9999999999999999, 1.0, 1.5, "x"):
        res = client.post("/predict", json={"users": users, "interval": bad})
        assert res.status_code == 422
        assert "interval" in res.text


def test_model_shows_the_learner_choice_and_verdict(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/model").json()
    assert body["learner"]["chosen"] == "dr" and body["uplift_model"]["kind"] == "effect"
    assert body["verdict"]["signal"] is True and "rule" in body["verdict"]
