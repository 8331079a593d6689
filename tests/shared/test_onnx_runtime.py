"""ONNX copies of the ranker: faithful to XGBoost's scores, or not written at all."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

import shared.onnx_runtime as onnx_runtime
from shared.estimators import ItemRanker
from shared.onnx_runtime import PARITY_TOL, OnnxModel, as_squared_error, export_booster, export_ranker


@pytest.fixture(scope="module")
def ranker_and_rows(test_seed: int) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(test_seed)
    n_q, per = 1_000, 8
    X = rng.normal(size=(n_q * per, 5)).astype(np.float32)
    rel = (rng.random(n_q * per) < 1 / (1 + np.exp(-(2 * X[:, 0] - X[:, 1])))).astype(float)
    model = ItemRanker(n_estimators=30, n_jobs=2, random_state=test_seed).fit(
        X, rel, np.repeat(np.arange(n_q), per)
    )
    return model.booster_, X


def test_objective_swap_changes_no_score(ranker_and_rows: tuple[xgb.Booster, np.ndarray]) -> None:
    booster, X = ranker_and_rows
    clone = as_squared_error(booster)
    assert json.loads(booster.save_config())["learner"]["objective"]["name"] == "rank:ndcg"
    assert json.loads(clone.save_config())["learner"]["objective"]["name"] == "reg:squarederror"
    np.testing.assert_array_equal(clone.inplace_predict(X), booster.inplace_predict(X))


def test_ranker_export_matches_xgboost(
    ranker_and_rows: tuple[xgb.Booster, np.ndarray], tmp_path: Path
) -> None:
    booster, X = ranker_and_rows
    path = tmp_path / "ranker.onnx"
    assert export_ranker(booster, X.shape[1], path, X[:500])
    # Rows the export never saw: the copy is the same function, not a fit to the probe.
    scores = OnnxModel(path).predict(X[500:])
    np.testing.assert_allclose(scores, booster.inplace_predict(X[500:]), rtol=0, atol=PARITY_TOL)
    assert np.ptp(scores) > 1.0  # real rankings, not a constant that would match trivially


def test_direct_export_of_a_ranking_objective_is_not_faithful(
    ranker_and_rows: tuple[xgb.Booster, np.ndarray], tmp_path: Path
) -> None:
    # Why export_ranker swaps the objective: onnxmltools reads rank:ndcg as a classifier.
    booster, X = ranker_and_rows
    path = tmp_path / "direct.onnx"
    if not export_booster(booster, X.shape[1], path):
        return  # refusing is fine too; only a silently wrong file would be a problem
    err = float(np.max(np.abs(OnnxModel(path).predict(X) - booster.inplace_predict(X))))
    assert not err <= PARITY_TOL


def test_unfaithful_export_leaves_no_file(
    ranker_and_rows: tuple[xgb.Booster, np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    booster, X = ranker_and_rows
    fewer_trees = booster[: booster.num_boosted_rounds() - 5]
    real_export = onnx_runtime.export_booster

    def export_wrong_model(_booster: xgb.Booster, n_features: int, path: Path) -> bool:
        return real_export(as_squared_error(fewer_trees), n_features, path)

    monkeypatch.setattr(onnx_runtime, "export_booster", export_wrong_model)
    path = tmp_path / "ranker.onnx"
    assert not export_ranker(booster, X.shape[1], path, X[:500])
    assert not path.exists()


def test_export_that_cannot_run_on_the_probe_leaves_no_file(
    ranker_and_rows: tuple[xgb.Booster, np.ndarray], tmp_path: Path
) -> None:
    booster, X = ranker_and_rows
    path = tmp_path / "ranker.onnx"
    # The graph is declared for 5 columns; a probe of 3 cannot be scored, so nothing is kept.
    assert not export_ranker(booster, X.shape[1], path, X[:500, :3])
    assert not path.exists()
