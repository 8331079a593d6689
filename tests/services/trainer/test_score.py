"""`uplift score`: streamed batch scoring equals the in-memory prediction of the same model."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from services.cli import app
from services.trainer.scoring import load_for_batch
from shared.datasets import HILLSTROM_PATH

runner = CliRunner()


def in_memory(models, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    bundle = load_for_batch(models, 2)
    X, unseen = bundle.schema.encode_frame(frame[bundle.schema.names])
    mu = bundle.xgboost_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    return effects, bundle.segments(effects), unseen


def score(models, data, out, *extra: str):
    args = ["score", "--data", str(data), "--out", str(out), "--models", str(models), "--n-jobs", "2", *extra]
    return runner.invoke(app, args)


@pytest.mark.parametrize("out_name", ["scores.parquet", "scores.csv"])
def test_streamed_scores_equal_in_memory_prediction(hillstrom_visit, tmp_path, out_name):
    out = tmp_path / out_name
    res = score(hillstrom_visit, HILLSTROM_PATH, out, "--batch-rows", "7000")
    assert res.exit_code == 0, res.output
    assert "scored 64000 rows" in res.output and "rows/s" in res.output
    got = pd.read_parquet(out) if out_name.endswith(".parquet") else pd.read_csv(out)
    assert list(got.columns) == ["cate_Mens E-Mail", "cate_Womens E-Mail", "segment", "chosen_arm"]
    raw = pd.read_csv(HILLSTROM_PATH)
    effects, segments, _ = in_memory(hillstrom_visit, raw)
    np.testing.assert_allclose(got[["cate_Mens E-Mail", "cate_Womens E-Mail"]], effects, atol=1e-6)
    assert (got["segment"].to_numpy() == segments).all()
    best = np.where(effects.max(axis=1) > 0, np.argmax(effects, axis=1) + 1, 0)
    arms = np.array(["No E-Mail", "Mens E-Mail", "Womens E-Mail"])
    assert (got["chosen_arm"].to_numpy() == arms[best]).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_min_effect_sends_small_effects_to_control(hillstrom_visit, tmp_path):
    out = tmp_path / "s.parquet"
    assert score(hillstrom_visit, HILLSTROM_PATH, out, "--min-effect", "0.1").exit_code == 0
    got = pd.read_parquet(out)
    best = got[["cate_Mens E-Mail", "cate_Womens E-Mail"]].max(axis=1)
    assert ((got["chosen_arm"] == "No E-Mail") == (best <= 0.1)).all()


def test_unseen_categories_are_scored_and_counted(hillstrom_visit, tmp_path):
    raw = pd.read_csv(HILLSTROM_PATH).head(2000)
    raw.loc[:9, "zip_code"] = "Lunar"
    data = tmp_path / "new.parquet"
    raw.to_parquet(data, index=False)
    out = tmp_path / "s.parquet"
    res = score(hillstrom_visit, data, out)
    assert res.exit_code == 0, res.output
    assert "warning: 10 row(s) had a category unseen at training" in res.output
    effects, _, unseen = in_memory(hillstrom_visit, raw)
    assert unseen == 10
    np.testing.assert_allclose(pd.read_parquet(out).iloc[:, :2], effects, atol=1e-6)


def test_ids_are_carried_through_when_the_model_has_an_id_column(trained_models, tmp_path):
    from shared.synthetic import MarketConfig, generate_market

    users = generate_market(MarketConfig(rows=3000, seed=11, impression_users=100)).users
    data = tmp_path / "users.parquet"
    users.to_parquet(data, index=False)
    out = tmp_path / "s.parquet"
    res = score(trained_models, data, out, "--batch-rows", "1000")
    assert res.exit_code == 0, res.output
    got = pd.read_parquet(out)
    assert list(got.columns) == ["user_id", "cate_1", "segment", "chosen_arm"]
    assert (got["user_id"] == users["user_id"]).all()
    effects, _, _ = in_memory(trained_models, users)
    np.testing.assert_allclose(got["cate_1"], effects[:, 0], atol=1e-6)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda f: f.drop(columns=["recency"]),
            "error: recency: feature the model was trained on is missing",
        ),
        (lambda f: f.head(0), "has no rows to score"),
        (lambda f: f.assign(history="lots"), "error: history: a value does not parse"),
    ],
)
def test_bad_input_is_one_clear_line_and_no_output(hillstrom_visit, tmp_path, mutate, message):
    data = tmp_path / "bad.csv"
    mutate(pd.read_csv(HILLSTROM_PATH).head(500)).to_csv(data, index=False)
    out = tmp_path / "s.parquet"
    res = score(hillstrom_visit, data, out)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert list(tmp_path.iterdir()) == [data]


def test_options_are_checked(hillstrom_visit, tmp_path):
    res = score(hillstrom_visit, HILLSTROM_PATH, tmp_path / "s.parquet", "--batch-rows", "0")
    assert res.exit_code == 2 and "--batch-rows: must be a positive integer" in res.output
    res = score(tmp_path / "none", HILLSTROM_PATH, tmp_path / "s.parquet")
    assert res.exit_code == 2 and "no current model" in res.output
