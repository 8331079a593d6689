"""The trainer's ranker: learned from the impression log, shipped with an ONNX copy only when faithful."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import shared.onnx_runtime as onnx_runtime
from services.trainer import ranking
from services.trainer.data import from_market, split_mask
from services.trainer.settings import TrainerSettings
from shared.estimators.ranker import DEFAULT_RANK_PARAMS
from shared.onnx_runtime import PARITY_TOL, OnnxModel
from shared.synthetic import MarketConfig, generate_market


@pytest.fixture(scope="module")
def ranker_result(test_seed: int) -> ranking.RankerResult:
    data = from_market(generate_market(MarketConfig(rows=8_000, seed=test_seed, impression_users=2_000)))
    test = split_mask(len(data.frame), 0.3, data.seed)
    return ranking.fit_and_evaluate(data, data.schema(), TrainerSettings(n_jobs=2), test)


def test_write_ships_a_faithful_onnx_copy(ranker_result: ranking.RankerResult, tmp_path: Path) -> None:
    spec = ranking.write(ranker_result, tmp_path)
    assert spec.onnx_file == "ranker.onnx" and (tmp_path / "ranker.onnx").is_file()
    probe = ranker_result.probe
    assert len(probe) > 100
    onnx_scores = OnnxModel(tmp_path / "ranker.onnx").predict(probe)
    np.testing.assert_allclose(onnx_scores, ranker_result.model.predict(probe), rtol=0, atol=PARITY_TOL)
    # The manifest records what was trained, so a served model can be traced to its settings.
    booster = ranker_result.model.booster_
    assert spec.params["n_estimators"] == booster.num_boosted_rounds() == TrainerSettings().ranker_trees
    assert spec.params["max_depth"] == DEFAULT_RANK_PARAMS["max_depth"]


def test_failed_export_ships_no_onnx_file(
    ranker_result: ranking.RankerResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_export(_booster: object, _n_features: int, path: Path) -> bool:
        path.write_bytes(b"half a graph")  # a converter that claims success but writes junk
        return True

    monkeypatch.setattr(onnx_runtime, "export_booster", broken_export)
    spec = ranking.write(ranker_result, tmp_path)
    assert spec.onnx_file is None and not (tmp_path / "ranker.onnx").exists()
    assert (tmp_path / spec.booster_file).is_file()
