import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.artifacts import ArtifactError, current_version, publish, resolve_current, set_current
from shared.bundle import ModelBundle, probe_matrix


def test_current_model_loads_and_serves_with_onnx_parity(trained_models):
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.serving_format == "onnx"
    assert bundle.parity_max_error is not None and bundle.parity_max_error <= 1e-5
    X = probe_matrix(bundle.schema, n=64, seed=1)
    xgb_out = np.column_stack([b.inplace_predict(X) for b in bundle.boosters])
    np.testing.assert_allclose(bundle.predict_outcomes(X), xgb_out, atol=1e-5)
    items, scores = bundle.rank_items(X[0])
    assert len(items) == len(bundle.catalog.item_ids) and np.all(np.diff(scores) <= 0)


def test_corrupt_file_is_refused_with_what_to_do(trained_models, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    version_dir, manifest = resolve_current(copy)
    (version_dir / manifest.uplift_model.booster_files[0]).write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="sha256 does not match.*retrain"):
        ModelBundle.load_current(copy)


def test_missing_manifest_and_bad_format_version(trained_models, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    version_dir, _ = resolve_current(copy)
    raw = json.loads((version_dir / "manifest.json").read_text())
    raw["format_version"] = 999
    (version_dir / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="format_version 999 is not supported"):
        ModelBundle.load_current(copy)
    (version_dir / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        resolve_current(copy)


def test_failed_write_is_never_published_or_current(trained_models, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    before = current_version(copy)
    entries = sorted(p.name for p in copy.iterdir())

    def explode(stage: Path):
        (stage / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish(copy, "v-broken", explode)
    assert current_version(copy) == before
    assert sorted(p.name for p in copy.iterdir()) == entries


def test_pointer_refuses_unverified_version(trained_models, tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    (copy / "v-partial").mkdir()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        set_current(copy, "v-partial")
    with pytest.raises(ArtifactError, match="no current model"):
        current_version(tmp_path)
