"""The manifest's own checksum is in the pointer; the manifest names files inside its version only."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from shared.artifacts import (
    POINTER,
    ArtifactError,
    read_pointer,
    resolve_current,
    set_current,
    sha256_file,
    verify,
)


@pytest.fixture()
def models(trained_models: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(trained_models, copy)
    return copy


def _edit_manifest(version_dir: Path, edit) -> None:
    raw = json.loads((version_dir / "manifest.json").read_text())
    edit(raw)
    (version_dir / "manifest.json").write_text(json.dumps(raw))


def test_the_pointer_records_the_manifests_sha256(models):
    version, digest = read_pointer(models)
    assert digest == sha256_file(models / version / "manifest.json")
    lines = (models / POINTER).read_text().splitlines()
    assert lines == [version, f"manifest-sha256 {digest}"]


def test_an_edited_manifest_is_refused_even_with_consistent_file_checksums(models):
    version_dir, manifest = resolve_current(models)
    target = manifest.uplift_model.booster_files[0]
    (version_dir / target).write_bytes(b"swapped model")
    # The attacker (or a careless script) updates the file's checksum in the manifest too...
    _edit_manifest(
        version_dir, lambda raw: raw["files"].__setitem__(target, sha256_file(version_dir / target))
    )
    verify(version_dir)  # ...which the manifest alone cannot tell,
    with pytest.raises(ArtifactError, match=f"sha256 does not match the one in {POINTER}"):
        resolve_current(models)  # but the pointer's checksum of the manifest can.


def test_repointing_records_the_new_manifest(models):
    version_dir, _ = resolve_current(models)
    _edit_manifest(version_dir, lambda raw: raw.__setitem__("created_at", raw["created_at"]))
    set_current(models, version_dir.name)
    assert resolve_current(models)[0] == version_dir


@pytest.mark.parametrize(
    "pointer", ["v1\nmanifest-sha256 xyz\n", "v1\nsha1 " + "0" * 64 + "\n", "v1\na\nb\n", "../x\n"]
)
def test_a_malformed_pointer_is_refused(models, pointer):
    (models / POINTER).write_text(pointer)
    with pytest.raises(ArtifactError, match="malformed"):
        read_pointer(models)


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../outside.bin", "sub/../../outside.bin", "", "link-out"],
)
def test_every_file_entry_must_resolve_inside_the_version_folder(models, name):
    version_dir, _ = resolve_current(models)
    outside = models / "outside.bin"
    outside.write_bytes(b"not part of the version")
    os.symlink(outside, version_dir / "link-out")

    def add(raw):
        raw["files"][name] = sha256_file(outside)

    _edit_manifest(version_dir, add)
    (models / POINTER).write_text(version_dir.name + "\n")  # no digest: the entry check alone must refuse
    with pytest.raises(ArtifactError, match="outside the version folder"):
        resolve_current(models)


def test_a_model_file_name_outside_the_folder_is_refused_too(models):
    version_dir, _ = resolve_current(models)

    def point_out(raw):
        raw["uplift_model"]["booster_files"][0] = "../elsewhere.ubj"
        raw["files"]["../elsewhere.ubj"] = "0" * 64

    _edit_manifest(version_dir, point_out)
    (models / POINTER).write_text(version_dir.name + "\n")
    with pytest.raises(ArtifactError, match="outside the version folder"):
        resolve_current(models)
