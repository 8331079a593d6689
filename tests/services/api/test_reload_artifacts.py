"""/admin/reload and start-up with a bad artifact: a 409 (or a 503 from /ready) that names the
problem without a single server path, and the old model keeps serving."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.api.settings import ApiSettings
from services.api.state import public_reason
from shared.artifacts import resolve_current, sha256_file

_PATH = re.compile(r"(^|[\s'\"(\[])/\w")


def _repoint_with_fresh_checksums(version_dir):
    """A publish of the edited version: every file checksum fresh, the pointer naming the new manifest."""
    raw = json.loads((version_dir / "manifest.json").read_text())
    raw["files"] = {rel: sha256_file(version_dir / rel) for rel in raw["files"]}
    (version_dir / "manifest.json").write_text(json.dumps(raw))
    digest = sha256_file(version_dir / "manifest.json")
    (version_dir.parent / "CURRENT").write_text(f"{version_dir.name}\nmanifest-sha256 {digest}\n")


# (An unreadable ONNX copy is not among them: the bundle serves with XGBoost then, by design.)
@pytest.mark.parametrize("which", ["booster", "ranker", "catalog_matrix", "catalog_ids"])
def test_a_wrong_type_file_with_a_valid_checksum_is_a_409_without_paths(
    trained_models, tmp_path, users, which
):
    models = tmp_path / "models"
    shutil.copytree(trained_models, models)
    with TestClient(create_app(ApiSettings(models_dir=models, data_dir=tmp_path / "v"))) as c:
        version = c.get("/ready").json()["model_version"]
        version_dir, manifest = resolve_current(models)
        target = {
            "booster": manifest.uplift_model.booster_files[1],
            "ranker": manifest.ranker.booster_file,
            "catalog_matrix": manifest.ranker.catalog_matrix_file,
            "catalog_ids": manifest.ranker.catalog_ids_file,
        }[which]
        (version_dir / target).write_bytes(b"PK\x03\x04 this is a zip file, not a model")
        _repoint_with_fresh_checksums(version_dir)
        res = c.post("/admin/reload")
        assert res.status_code == 409
        rule = res.json()["detail"][0]["rule"]
        assert "still serving" in rule and "retrain" in rule
        assert not _PATH.search(rule), rule
        assert str(tmp_path) not in res.text
        assert c.post("/predict", json={"users": [users[0]]}).json()["model_version"] == version


def test_ready_explains_a_bad_start_without_paths(trained_models, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(trained_models, models)
    version_dir, manifest = resolve_current(models)
    (version_dir / manifest.uplift_model.booster_files[0]).write_bytes(b"corrupt")
    with TestClient(create_app(ApiSettings(models_dir=models, data_dir=tmp_path / "v"))) as c:
        res = c.get("/ready")
    assert res.status_code == 503
    reason = res.json()["reason"]
    assert "sha256" in reason and version_dir.name in reason
    assert str(tmp_path) not in reason and not _PATH.search(reason)


def test_public_reason_keeps_paths_relative_to_the_models_folder(tmp_path):
    s = ApiSettings(models_dir=tmp_path / "models")
    msg = f"{tmp_path}/models/v1/outcome_0.ubj: sha256 does not match; also /usr/lib/x/libfoo.so failed"
    assert public_reason(msg, s) == "v1/outcome_0.ubj: sha256 does not match; also libfoo.so failed"
