"""Reading a version's files: unreadable or inconsistent files are ArtifactErrors that say what to do."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.artifacts import ArtifactError, Manifest, resolve_current
from shared.bundle_files import read_booster, read_boosters, read_catalog, read_reference


@pytest.fixture
def version(trained_models: Path, tmp_path: Path) -> tuple[Path, Manifest]:
    """A private copy of the trained version, free to damage."""
    src, manifest = resolve_current(trained_models)
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst, manifest


def test_boosters_read_with_one_thread_and_the_schema_width(version: tuple[Path, Manifest]) -> None:
    path, manifest = version
    boosters = read_boosters(path, manifest)
    assert len(boosters) == len(manifest.uplift_model.booster_files)
    assert all(b.num_features() == manifest.features.n_encoded for b in boosters)


def test_an_unreadable_booster_names_the_folder_and_says_retrain(version: tuple[Path, Manifest]) -> None:
    path, manifest = version
    name = manifest.uplift_model.booster_files[0]
    (path / name).write_bytes(b"not a booster")
    with pytest.raises(ArtifactError, match=r"a booster cannot be read .*retrain") as caught:
        read_booster(path, name)
    # One line naming the file, without XGBoost's stack trace.
    assert str(path / name) in str(caught.value) and "\n" not in str(caught.value)


def test_a_booster_of_another_width_is_refused(version: tuple[Path, Manifest]) -> None:
    import xgboost as xgb

    path, manifest = version
    width = manifest.features.n_encoded + 1
    rng = np.random.default_rng(0)
    other = xgb.train({"nthread": 1}, xgb.DMatrix(rng.random((50, width)), label=rng.random(50)), 2)
    other.save_model(str(path / manifest.uplift_model.booster_files[-1]))
    with pytest.raises(
        ArtifactError, match=f"booster expects {width} features but the manifest schema encodes"
    ):
        read_boosters(path, manifest)


def test_reference_is_read_and_a_broken_one_falls_back(
    version: tuple[Path, Manifest], caplog: pytest.LogCaptureFixture
) -> None:
    path, manifest = version
    ref = read_reference(path, manifest)
    assert ref is not None and {"outcome_probe", "outcome_scores"} <= ref.keys()
    assert manifest.parity_reference_file is not None
    (path / manifest.parity_reference_file).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="shared.bundle_files"):
        assert read_reference(path, manifest) is None
    assert "parity reference unreadable" in caplog.text
    np.savez(path / manifest.parity_reference_file, other=np.zeros(2))
    assert read_reference(path, manifest) is None
    assert read_reference(path, manifest.model_copy(update={"parity_reference_file": None})) is None


def test_a_catalog_that_does_not_match_its_ids_is_refused(version: tuple[Path, Manifest]) -> None:
    path, manifest = version
    assert manifest.ranker is not None
    catalog, _ = read_catalog(path, manifest)
    assert catalog.encoded.shape[0] == len(catalog.id_list) == len(catalog.index)
    np.save(path / manifest.ranker.catalog_matrix_file, catalog.encoded[:-1])
    with pytest.raises(ArtifactError, match="catalog matrix .* does not match its ids/schema; retrain"):
        read_catalog(path, manifest)
