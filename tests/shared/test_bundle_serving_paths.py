"""Small batches go through ONNX Runtime, large ones through XGBoost: both give the same numbers.

Holds for the outcome models and for the ranker, each with its own crossover.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.bundle import (
    ONNX_MAX_ROWS,
    PAIR_SCORER_MAX_USERS,
    RANKER_ONNX_MAX_ROWS,
    ModelBundle,
)
from shared.onnx_runtime import PARITY_TOL
from shared.pair_trees import PairTreeScorer
from shared.parity import probe_matrix
from shared.ranking_features import pair_matrix


def test_small_and_large_batches_agree(trained_models: Path) -> None:
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.serving_format == "onnx"
    X = probe_matrix(bundle.schema, ONNX_MAX_ROWS + 50, seed=11)
    large = bundle.predict_outcomes(X)  # one XGBoost call
    small = np.vstack([bundle.predict_outcomes(X[i : i + 10]) for i in range(0, len(X), 10)])  # ONNX
    reference = bundle.xgboost_outcomes(X)
    np.testing.assert_allclose(large, reference, atol=1e-12)
    np.testing.assert_allclose(small, reference, atol=PARITY_TOL)


def _count_calls(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> list[int]:
    """Record the row count of every call to ``obj.name`` while still running it."""
    real = getattr(obj, name)
    rows: list[int] = []

    def spy(X: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        rows.append(len(X))
        return real(X, *args, **kwargs)

    monkeypatch.setattr(obj, name, spy)
    return rows


def test_ranker_onnx_and_xgboost_agree_on_both_sides_of_the_crossover(
    trained_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.ranker_format == "onnx"
    assert bundle.ranker_parity_max_error is not None and bundle.ranker_parity_max_error <= PARITY_TOL
    n_items = len(bundle.catalog.item_ids)
    users = probe_matrix(bundle.schema, RANKER_ONNX_MAX_ROWS // n_items + 2, seed=12)
    reference = bundle.ranker.inplace_predict(ranker_probe_rows(bundle, users)).reshape(len(users), n_items)
    bundle.pair_scorer = None  # loaded with the booster above; this test is about the other two paths
    onnx_rows = _count_calls(monkeypatch, bundle.ranker_onnx, "predict")
    xgb_rows = _count_calls(monkeypatch, bundle.ranker, "inplace_predict")

    small = np.vstack([bundle.ranker_scores(users[i : i + 1]) for i in range(len(users))])
    assert onnx_rows == [n_items] * len(users) and xgb_rows == []
    large = bundle.ranker_scores(users)
    assert xgb_rows == [len(users) * n_items] and len(users) * n_items >= RANKER_ONNX_MAX_ROWS

    np.testing.assert_allclose(small, reference, rtol=0, atol=PARITY_TOL)
    np.testing.assert_allclose(large, reference, rtol=0, atol=1e-12)
    assert np.ptp(reference) > 0.5  # scores that actually rank, so agreement is not trivial


def test_ranking_candidates_goes_through_onnx(trained_models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = ModelBundle.load_current(trained_models)
    user = probe_matrix(bundle.schema, 1, seed=13)[0]
    candidates = [str(i) for i in bundle.catalog.item_ids[::7]]
    onnx_rows = _count_calls(monkeypatch, bundle.ranker_onnx, "predict")
    items, scores = bundle.rank_items(user, candidates)
    assert onnx_rows == [len(candidates)]  # the boosters (and the pair scorer) are not loaded yet
    assert sorted(items.tolist()) == sorted(candidates) and np.all(np.diff(scores) <= 0)
    idx = np.array([bundle.catalog.index[i] for i in items])
    expected = bundle.ranker.inplace_predict(ranker_probe_rows(bundle, user[None, :], idx))
    np.testing.assert_allclose(scores, expected, rtol=0, atol=PARITY_TOL)


def ranker_probe_rows(bundle: ModelBundle, users: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """(user, item) rows built independently of ranker_scores: every user with every (chosen) item."""
    items = bundle.catalog.encoded if idx is None else bundle.catalog.encoded[idx]
    rows = [pair_matrix(u, items, bundle.cross_idx) for u in users]
    return np.vstack(rows)


def test_pair_scorer_ranks_small_batches_once_the_boosters_are_loaded(
    trained_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.pair_scorer is None and bundle.ranker_format == "onnx"  # until the boosters load
    bundle.load_boosters()
    assert bundle.ranker_format == "pair_trees"
    assert bundle.pair_parity_max_error is not None and bundle.pair_parity_max_error <= PARITY_TOL
    n_items = len(bundle.catalog.item_ids)
    users = probe_matrix(bundle.schema, PAIR_SCORER_MAX_USERS + 1, seed=14)
    reference = bundle.ranker.inplace_predict(ranker_probe_rows(bundle, users)).reshape(len(users), n_items)
    onnx_rows = _count_calls(monkeypatch, bundle.ranker_onnx, "predict")
    xgb_rows = _count_calls(monkeypatch, bundle.ranker, "inplace_predict")

    small = bundle.ranker_scores(users[:PAIR_SCORER_MAX_USERS])
    assert onnx_rows == [] and xgb_rows == []
    np.testing.assert_allclose(small, reference[:PAIR_SCORER_MAX_USERS], rtol=0, atol=PARITY_TOL)
    large = bundle.ranker_scores(users)  # one user more than the pair scorer takes: XGBoost
    assert xgb_rows == [len(users) * n_items]
    np.testing.assert_allclose(large, reference, rtol=0, atol=1e-12)

    candidates = [str(i) for i in bundle.catalog.item_ids[::7]]
    items, scores = bundle.rank_items(users[0], candidates)
    assert onnx_rows == [] and sorted(items.tolist()) == sorted(candidates)
    idx = np.array([bundle.catalog.index[i] for i in items])
    expected = bundle.ranker.inplace_predict(ranker_probe_rows(bundle, users[:1], idx))
    np.testing.assert_allclose(scores, expected, rtol=0, atol=PARITY_TOL)


def test_pair_scorer_that_disagrees_with_the_booster_is_not_used(
    trained_models: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = PairTreeScorer.scores
    monkeypatch.setattr(PairTreeScorer, "scores", lambda self, u: real(self, u) + 1e-3)
    bundle = ModelBundle.load_current(trained_models)
    bundle.load_boosters()
    assert bundle.pair_scorer is None and bundle.ranker_format == "onnx"
    assert bundle.pair_parity_max_error is not None and bundle.pair_parity_max_error > PARITY_TOL
    assert "pair scorer parity error" in caplog.text


def test_xgboost_only_serving_builds_no_pair_scorer(trained_models: Path) -> None:
    bundle = ModelBundle.load_current(trained_models, use_onnx=False)
    bundle.load_boosters()
    assert bundle.pair_scorer is None and bundle.ranker_format == "xgboost"
