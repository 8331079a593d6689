import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from shared.artifacts import (
    ArtifactError,
    current_version,
    publish,
    resolve_current,
    set_current,
    sha256_file,
)
from shared.bundle import ModelBundle
from shared.effect_form import combine
from shared.onnx_runtime import PARITY_TOL, as_squared_error, export_booster
from shared.parity import probe_matrix
from shared.ranking_features import pair_matrix


def test_current_model_loads_and_serves_with_onnx_parity(trained_models):
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.serving_format == "onnx"
    assert bundle.parity_max_error is not None and bundle.parity_max_error <= 1e-5
    X = probe_matrix(bundle.schema, n=64, seed=1)
    xgb_out = bundle.xgboost_outcomes(X)
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
    # A one-line pointer (an older build's) names no manifest checksum: the manifest's own checks run.
    (copy / "CURRENT").write_text(version_dir.name + "\n")
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


def _copy_current(trained_models: Path, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    version_dir, _ = resolve_current(copy)
    return version_dir, json.loads((version_dir / "manifest.json").read_text())


def _save_manifest(version_dir: Path, raw: dict[str, Any]) -> None:
    """Rewrite the manifest with fresh checksums, as a buggy exporter's own publish would have."""
    raw["files"] = {
        rel: sha256_file(version_dir / rel) for rel in raw["files"] if (version_dir / rel).exists()
    }
    _write_manifest(version_dir, raw)


def _write_manifest(version_dir: Path, raw: dict[str, Any]) -> None:
    """Write the manifest and point CURRENT at it with its new checksum, as a publish would."""
    (version_dir / "manifest.json").write_text(json.dumps(raw))
    digest = sha256_file(version_dir / "manifest.json")
    (version_dir.parent / "CURRENT").write_text(f"{version_dir.name}\nmanifest-sha256 {digest}\n")


def test_ranker_onnx_is_published_checksummed_and_served(trained_models):
    version_dir, manifest = resolve_current(trained_models)
    assert manifest.ranker is not None and manifest.ranker.onnx_file == "ranker.onnx"
    assert manifest.files["ranker.onnx"] == sha256_file(version_dir / "ranker.onnx")
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.ranker_format == "onnx" and bundle.ranker_parity_max_error <= PARITY_TOL
    assert ModelBundle.load_current(trained_models, use_onnx=False).ranker_format == "xgboost"


def test_edited_ranker_onnx_is_refused_by_checksum(trained_models, tmp_path):
    version_dir, _ = _copy_current(trained_models, tmp_path)
    (version_dir / "ranker.onnx").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match=r"ranker\.onnx: sha256 does not match"):
        ModelBundle.load_current(version_dir.parent)


def test_manifest_naming_an_unchecksummed_ranker_onnx_is_refused(trained_models, tmp_path):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    del raw["files"]["ranker.onnx"]
    _write_manifest(version_dir, raw)
    with pytest.raises(ArtifactError, match=r"names \['ranker\.onnx'\] without a checksum"):
        ModelBundle.load_current(version_dir.parent)


def test_unreadable_ranker_onnx_falls_back_to_xgboost(trained_models, tmp_path, caplog):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    (version_dir / "ranker.onnx").write_bytes(b"not an onnx graph")
    _save_manifest(version_dir, raw)
    with caplog.at_level(logging.WARNING, logger="shared.bundle"):
        bundle = ModelBundle.load_current(version_dir.parent)
    # The boosters load at once then, and with them the pair scorer, which serves small calls.
    assert bundle.ranker_format == "pair_trees" and bundle.ranker_onnx is None
    assert "ranker ONNX copy ranker.onnx cannot run" in caplog.text
    _assert_ranks_with_xgboost(bundle)


def test_mismatching_ranker_onnx_falls_back_to_xgboost(trained_models, tmp_path, caplog):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    ranker = xgb.Booster(model_file=str(version_dir / "ranker.ubj"))
    # A well-formed graph of the same width whose scores differ: the ranker minus its last trees.
    truncated = as_squared_error(ranker[: ranker.num_boosted_rounds() - 3])
    assert export_booster(truncated, ranker.num_features(), version_dir / "ranker.onnx")
    _save_manifest(version_dir, raw)
    with caplog.at_level(logging.WARNING, logger="shared.bundle"):
        bundle = ModelBundle.load_current(version_dir.parent)
    assert bundle.ranker_format == "pair_trees" and bundle.ranker_onnx is None
    assert bundle.ranker_parity_max_error is not None and bundle.ranker_parity_max_error > PARITY_TOL
    assert "ranker ONNX parity error" in caplog.text
    # The outcome models' ONNX copies are unaffected.
    assert bundle.serving_format == "onnx"
    _assert_ranks_with_xgboost(bundle)


def test_manifest_from_before_the_ranker_onnx_still_loads(trained_models, tmp_path):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    del raw["ranker"]["onnx_file"]
    (version_dir / "ranker.onnx").unlink()
    del raw["files"]["ranker.onnx"]
    _write_manifest(version_dir, raw)
    bundle = ModelBundle.load_current(version_dir.parent)
    assert bundle.manifest.ranker.onnx_file is None
    # No ONNX ranker, but the parity reference: the pair scorer serves small calls.
    assert bundle.ranker_format == "pair_trees" and bundle.ranker_parity_max_error is None
    _assert_ranks_with_xgboost(bundle)


def _assert_ranks_with_xgboost(bundle: ModelBundle) -> None:
    """Small calls give XGBoost's own scores, whether the booster or the pair scorer serves them."""
    user = probe_matrix(bundle.schema, n=1, seed=4)
    pairs = pair_matrix(user[0], bundle.catalog.encoded, bundle.cross_idx)
    np.testing.assert_array_equal(bundle.ranker_scores(user)[0], bundle.ranker.inplace_predict(pairs))
    bundle.pair_scorer = None
    np.testing.assert_array_equal(bundle.ranker_scores(user)[0], bundle.ranker.inplace_predict(pairs))


def test_unreadable_outcome_onnx_falls_back_to_xgboost(trained_models, tmp_path, caplog):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    (version_dir / "outcome_arm1.onnx").write_bytes(b"not an onnx graph")
    _save_manifest(version_dir, raw)
    with caplog.at_level(logging.WARNING, logger="shared.bundle"):
        bundle = ModelBundle.load_current(version_dir.parent)
    assert bundle.serving_format == "xgboost" and bundle.onnx is None
    assert "ONNX copies cannot run" in caplog.text
    X = probe_matrix(bundle.schema, n=8, seed=2)
    np.testing.assert_allclose(bundle.predict_outcomes(X), bundle.xgboost_outcomes(X))


def test_onnx_checked_against_the_recorded_reference_and_boosters_load_later(trained_models):
    bundle = ModelBundle.load_current(trained_models)
    assert bundle.manifest.parity_reference_file == "parity_reference.npz"
    assert bundle.serving_format == "onnx" and bundle.ranker_format == "onnx"
    # Nothing served from XGBoost yet, so nothing of it was read.
    assert bundle.loaded_boosters is None and bundle.loaded_ranker is None
    X = probe_matrix(bundle.schema, n=300, seed=4)  # above ONNX_MAX_ROWS: XGBoost serves it
    out = bundle.predict_outcomes(X)
    assert bundle.loaded_boosters is not None and bundle.loaded_ranker is not None
    onnx_raw = np.column_stack([m.predict(X) for m in bundle.onnx])
    n = len(bundle.arms)
    np.testing.assert_allclose(out, combine(onnx_raw[:, :n], onnx_raw[:, n:], bundle.effect_form), atol=1e-5)


def test_loading_a_model_imports_neither_xgboost_nor_scipy(trained_models):
    code = (
        "import sys; from pathlib import Path; from shared.bundle import ModelBundle; "
        f"b = ModelBundle.load_current(Path({str(trained_models)!r})); "
        "assert b.serving_format == 'onnx'; "
        "print(sorted(m for m in ('xgboost', 'scipy') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_manifest_without_a_reference_checks_onnx_against_xgboost_at_load(trained_models, tmp_path):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    raw.pop("parity_reference_file")
    (version_dir / "parity_reference.npz").unlink()
    _save_manifest(version_dir, raw)
    bundle = ModelBundle.load_current(version_dir.parent)
    assert bundle.reference is None
    assert bundle.serving_format == "onnx" and bundle.parity_max_error is not None
    assert bundle.loaded_boosters is not None and bundle.loaded_ranker is not None


def test_xgboost_disagreeing_with_the_reference_is_refused(trained_models, tmp_path):
    version_dir, raw = _copy_current(trained_models, tmp_path)
    with np.load(version_dir / "parity_reference.npz") as npz:
        ref = {k: npz[k] for k in npz.files}
    ref["outcome_scores"] = ref["outcome_scores"] + 1e-3
    np.savez(version_dir / "parity_reference.npz", **ref)
    _save_manifest(version_dir, raw)
    # The ONNX copies now fail the reference too, so the boosters are needed, and checked, at load.
    with pytest.raises(ArtifactError, match="away from the trainer's recorded ones"):
        ModelBundle.load_current(version_dir.parent)
