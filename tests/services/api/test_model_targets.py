"""POST /model/targets: a CSV of users in, the streamed target list out, agreeing with /predict."""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from services.api import targets
from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.artifacts import resolve_current


def _users_csv(models: Path, n: int) -> tuple[pd.DataFrame, bytes]:
    version_dir, manifest = resolve_current(models)
    frame = pd.read_parquet(version_dir / "holdout_sample.parquet").head(n)
    users = frame[["user_id", *manifest.features.names]]
    return users, users.to_csv(index=False).encode()


def _post(client, body, **params):
    return client.post("/model/targets", content=body, params=params, headers={"Content-Type": "text/csv"})


def test_target_list_matches_predict_and_the_budget(client, trained_models):
    users, body = _users_csv(trained_models, 300)
    value, cost, budget = 20.0, 1.0, 40.0
    res = _post(client, body, value_per_conversion=value, cost_per_treatment=cost, budget=budget)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    out = pd.read_csv(io.StringIO(res.text), dtype={"user": str, "recommended_arm": str})
    assert list(out.columns) == targets.COLUMNS and len(out) == len(users)
    assert (np.diff(out["expected_profit"]) <= 1e-9).all()  # best first

    feats = [c for c in users.columns if c != "user_id"]
    records = users.astype(object).to_dict("records")
    preds = {}
    for start in range(0, len(records), 50):  # the test app's batch limit
        chunk = [
            {"user_id": str(r["user_id"]), "features": {k: r[k] for k in feats}}
            for r in records[start : start + 50]
        ]
        for p in client.post("/predict", json={"users": chunk, "interval": 0.9}).json()["predictions"]:
            preds[p["user_id"]] = p
    for row in out.head(40).itertuples():
        p = preds[row.user]
        assert row.expected_effect == pytest.approx(p["cate"], rel=1e-4, abs=1e-6)
        assert row.expected_profit == pytest.approx(p["cate"] * value - cost, rel=1e-4, abs=1e-5)
        lo, hi = p["effect_intervals"][row.recommended_arm]
        assert row.effect_low == pytest.approx(lo, abs=1e-5) and row.effect_high == pytest.approx(
            hi, abs=1e-5
        )
        assert row.segment == p["segment"]
    worth = int((out["expected_profit"] > 0).sum())
    assert out["target"].sum() == min(int(budget // cost), worth)
    assert out["target"].iloc[: out["target"].sum()].all()  # the budget buys the best first


def test_without_budget_every_user_worth_it_is_a_target(client, trained_models):
    _, body = _users_csv(trained_models, 100)
    out = pd.read_csv(io.StringIO(_post(client, body, cost_per_treatment=0.5).text))
    assert (out["target"] == (out["expected_profit"] > 0)).all()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda f: f.drop(columns=[f.columns[1]]), None),  # a missing feature column is named
        (lambda f: f.iloc[:0], "file"),
    ],
)
def test_bad_files_are_422_naming_the_field(client, trained_models, mutate, field):
    users, _ = _users_csv(trained_models, 20)
    res = _post(client, mutate(users).to_csv(index=False).encode())
    assert res.status_code == 422
    detail = res.json()["detail"][0]
    assert detail["field"] == (field or users.columns[1])


def test_row_limit_is_enforced(client, trained_models, monkeypatch):
    monkeypatch.setattr(targets, "MAX_ROWS", 10)
    _, body = _users_csv(trained_models, 11)
    res = _post(client, body)
    assert res.status_code == 422 and res.json()["detail"][0] == {
        "field": "file",
        "rule": "at most 10 users per request; use `uplift score` for more",
    }


def test_unknown_id_column_is_named(client, trained_models):
    _, body = _users_csv(trained_models, 5)
    res = _post(client, body, id_column="customer")
    assert res.status_code == 422 and res.json()["detail"][0]["field"] == "id_column"


@pytest.fixture(scope="module")
def three_arm(tmp_path_factory, test_seed):
    from services.trainer.data import from_market
    from services.trainer.pipeline import train
    from services.trainer.settings import TrainerSettings
    from shared.synthetic import MarketConfig, generate_market

    out = tmp_path_factory.mktemp("targets3")
    market = generate_market(MarketConfig(rows=12_000, seed=test_seed, n_arms=3, impression_users=1_000))
    train(
        from_market(market),
        out,
        TrainerSettings(n_jobs=2, max_trees=60, holdout_sample_rows=400, learner="t"),
    )
    return out


def test_three_arm_model_recommends_each_users_best_arm(three_arm, tmp_path):
    users, body = _users_csv(three_arm, 300)
    settings = ApiSettings(models_dir=three_arm, data_dir=tmp_path / "var", max_batch=500)
    with TestClient(create_app(settings)) as c:
        out = pd.read_csv(io.StringIO(_post(c, body).text), dtype={"user": str, "recommended_arm": str})
        feats = [k for k in users.columns if k != "user_id"]
        sent = [
            {"user_id": str(r["user_id"]), "features": {k: r[k] for k in feats}}
            for r in users.astype(object).to_dict("records")
        ]
        preds = {p["user_id"]: p for p in c.post("/predict", json={"users": sent}).json()["predictions"]}
    assert set(out["recommended_arm"]) == {"1", "2"}  # both treatment arms win somewhere
    for row in out.itertuples():
        effects = preds[row.user]["effects"]
        assert row.recommended_arm == max(effects, key=effects.get)
        assert row.expected_effect == pytest.approx(effects[row.recommended_arm], rel=1e-4, abs=1e-6)
