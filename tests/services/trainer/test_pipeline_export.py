"""The outcome models' ONNX copies ship for every arm or for none."""

from pathlib import Path

import pytest

from services.trainer import export as export_module
from services.trainer import pipeline
from services.trainer.data import from_market
from services.trainer.settings import TrainerSettings
from shared.artifacts import resolve_current
from shared.bundle import ModelBundle
from shared.synthetic import MarketConfig, generate_market


@pytest.mark.parametrize("failing_arm", [0, 1])
def test_one_failed_outcome_export_ships_no_onnx_and_serves_xgboost(tmp_path, monkeypatch, failing_arm):
    real = export_module.export_booster

    def export(booster, n_features: int, path: Path) -> bool:
        if path.name == f"outcome_arm{failing_arm}.onnx":
            return False
        return real(booster, n_features, path)

    monkeypatch.setattr(export_module, "export_booster", export)
    market = generate_market(MarketConfig(rows=4_000, seed=3, impression_users=500))
    settings = TrainerSettings(n_jobs=2, max_trees=20, ranker_trees=5, holdout_sample_rows=100)
    pipeline.train(from_market(market), tmp_path, settings)
    version_dir, manifest = resolve_current(tmp_path)
    assert manifest.uplift_model.onnx_files is None
    assert not list(version_dir.glob("outcome_arm*.onnx"))
    bundle = ModelBundle.load_current(tmp_path)
    assert bundle.serving_format == "xgboost" and len(bundle.boosters) == 2
