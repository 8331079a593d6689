"""The read-only routes the dashboard draws from, checked against numbers computed here from /predict."""

import numpy as np
import pandas as pd
import pytest


@pytest.fixture()
def scored(client):
    """The held-out sample with each user's CATE and segment from /predict (the serving path)."""
    body = client.get("/model/sample", params={"n": 5000}).json()
    frame = pd.DataFrame(body["rows"], columns=body["columns"])
    names = [f["name"] for f in client.get("/model").json()["features"]["features"]]
    preds = []
    for start in range(0, len(frame), 50):  # the test app's batch limit
        chunk = frame.iloc[start : start + 50]
        users = [
            {"user_id": str(r["user_id"]), "features": {k: r[k] for k in names}}
            for r in chunk.to_dict("records")
        ]
        preds += client.post("/predict", json={"users": users}).json()["predictions"]
    frame["cate"] = [p["cate"] for p in preds]
    frame["segment"] = [p["segment"] for p in preds]
    return frame


def test_policy_curve_budget_marks_the_cut_off_the_policy_would_choose(client, scored):
    value, cost, budget = 20.0, 1.5, 300.0
    res = client.get(
        "/model/policy-curve",
        params={"value_per_conversion": value, "cost_per_treatment": cost, "budget": budget},
    ).json()
    chosen = res["chosen"]
    cate = scored["cate"].to_numpy()
    order = np.argsort(-cate, kind="stable")
    worth = int((cate * value - cost > 0).sum())
    treated = min(int(budget // cost), worth)
    assert treated > 0 and chosen["policy"]["treated"] == treated
    assert chosen["share"] == pytest.approx(treated / len(cate))
    top = order[:treated]
    assert chosen["policy"]["incremental_conversions"] == pytest.approx(cate[top].sum(), rel=1e-5)
    assert chosen["policy"]["profit"] == pytest.approx(cate[top].sum() * value - treated * cost, rel=1e-5)
    assert chosen["treat_all"]["incremental_conversions"] == pytest.approx(cate.sum(), rel=1e-5)
    assert chosen["random"]["incremental_conversions"] == pytest.approx(cate.mean() * treated, rel=1e-5)
    expected_mix = scored["segment"].iloc[top].value_counts().to_dict()
    assert {k: v for k, v in chosen["segment_mix"].items() if v} == expected_mix


def test_policy_curve_without_budget_has_no_cut_off(client):
    assert client.get("/model/policy-curve", params={"points": 5}).json().get("chosen") is None


def _qini_at(y, t, order, n):
    top = order[:n]
    nt, nc = t[top].sum(), (1 - t[top]).sum()
    yt, yc = (y[top] * t[top]).sum(), (y[top] * (1 - t[top])).sum()
    return yt - yc * nt / nc if nc else 0.0


def test_curves_match_a_direct_computation_on_the_sample(client, scored):
    res = client.get("/model/curves", params={"points": 51}).json()
    info = client.get("/model").json()["data"]
    assert res["n_users"] == len(scored) and list(res["arms"]) == info["arms"][1:]
    arm = res["arms"][info["arms"][1]]
    y = scored[info["outcome_column"]].to_numpy(dtype=float)
    t = (scored[info["treatment_column"]].astype(str) == info["arms"][1]).to_numpy().astype(float)
    uplift_all = (y[t == 1].mean() - y[t == 0].mean()) * len(y)
    qini_all = y[t == 1].sum() - y[t == 0].sum() * t.sum() / (1 - t).sum()
    for kind, end in (("qini", qini_all), ("uplift", uplift_all)):
        curves = arm[kind]
        assert set(curves) == {"model", "random", "oracle"}  # synthetic data: the truth is known
        assert curves["model"]["y"][-1] == pytest.approx(end) and curves["random"]["y"] == pytest.approx(
            [0, end]
        )
        assert curves["model"]["x"][0] == 0 and curves["model"]["x"][-1] == 1
    cate = scored["cate"].to_numpy()
    order = np.argsort(-cate, kind="stable")
    checked = 0
    for x, q in zip(arm["qini"]["model"]["x"], arm["qini"]["model"]["y"], strict=True):
        n = round(x * len(y))
        if 0 < n < len(y) and cate[order[n - 1]] != cate[order[n]]:  # a cut-off that splits no tie
            assert q == pytest.approx(_qini_at(y, t, order, n), rel=1e-6, abs=1e-6)
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/model/policy-curve", {"budget": -1}, "query.budget"),
        ("/model/policy-curve", {"lower": 0.2, "upper": 0.1}, "lower"),
        ("/model/curves", {"points": 1}, "query.points"),
    ],
)
def test_bad_parameters_are_a_422_naming_the_field(client, path, params, field):
    res = client.get(path, params=params)
    assert res.status_code == 422
    assert res.json()["detail"][0]["field"] == field
