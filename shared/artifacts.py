"""Versioned model artifacts: ``models/<version>/`` with a manifest, and a ``CURRENT`` pointer.

Publishing is atomic: everything is written into a hidden staging folder, checksummed, renamed
into place, and only then is the pointer replaced (``os.replace`` of a temp file). A failed or
interrupted run therefore never leaves a half-written version marked current. Loading verifies
the format version, every file's sha256 and the schema before any model is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.schema import FeatureSchema

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
POINTER = "CURRENT"
_DIGEST_TAG = "manifest-sha256"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt or incompatible; the message says what to do."""


class SegmentThresholds(BaseModel):
    model_config = ConfigDict(frozen=True)

    lower: float
    upper: float
    rule: str

    def model_post_init(self, __context: Any) -> None:
        if self.lower > self.upper:
            raise ValueError(f"segment thresholds: lower ({self.lower}) must not exceed upper ({self.upper})")


class EffectScale(BaseModel):
    """One treatment arm's check of the served effect's scale on held-out rows
    (shared.estimators.effect_calibration): the trainer records one per arm in the manifest's learner
    summary, GET /model returns them, the dashboard shows them. The applied map is
    effect' = mean_effect + slope · (effect − mean_effect) if ``applied``, else the identity."""

    model_config = ConfigDict(frozen=True)

    arm: str
    rows: int
    mean_effect: float
    slope: float
    slope_se: float
    z: float
    applied: bool
    reason: str

    @property
    def map(self) -> tuple[float, float]:
        """(intercept, slope) the served effect goes through."""
        return ((1.0 - self.slope) * self.mean_effect, self.slope) if self.applied else (0.0, 1.0)


class DataDescription(BaseModel):
    source: str
    path: str | None = None
    rows: int
    train_rows: int
    test_rows: int
    seed: int
    treatment_column: str
    outcome_column: str
    outcome_kind: Literal["binary", "continuous"]
    control: str
    arms: list[str] = Field(min_length=2)
    id_column: str | None = None
    # What /optimize's value and the bandit's reward mean for this outcome (binary or continuous).
    optimize_rule: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class UpliftModelSpec(BaseModel):
    # "t-learner": the effect is the outcome models' difference; "effect": read through effect_form.
    kind: Literal["t-learner", "effect"] = "t-learner"
    # The chosen learner's code, or codes joined by "+" for an average (see shared.estimators.served).
    learner: str = "t"
    # One outcome booster per arm (control first, named by position so any arm label is a safe file
    # name), then the direct effect boosters that effect_form refers to by index.
    booster_files: list[str]
    onnx_files: list[str] | None = None
    best_iterations: list[int]
    params: dict[str, Any]
    n_outcome_boosters: int | None = None
    effect_form: dict[str, Any] | None = None
    # Per treatment arm: the effect-sample members (shared.estimators.uncertainty) and their scale.
    member_files: list[list[str]] | None = None
    member_scale: float | None = None

    def outcome_boosters(self) -> int:
        return self.n_outcome_boosters if self.n_outcome_boosters is not None else len(self.booster_files)


class RankerSpec(BaseModel):
    booster_file: str
    onnx_file: str | None = None
    item_schema: FeatureSchema
    crosses: list[tuple[str, str]]
    catalog_file: str
    # The catalog pre-encoded for serving (numpy .npy, no pickle) and its item ids, in the same order.
    catalog_matrix_file: str
    catalog_ids_file: str
    top_sellers: list[str]
    params: dict[str, Any]


class Manifest(BaseModel):
    format_version: int
    version: str
    created_at: str
    library_versions: dict[str, str]
    data: DataDescription
    features: FeatureSchema
    segments: SegmentThresholds
    uplift_model: UpliftModelSpec
    ranker: RankerSpec | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    # The learner choice (every candidate's out-of-fold score, the reason) and the held-out verdict.
    learner: dict[str, Any] = Field(default_factory=dict)
    verdict: dict[str, Any] = Field(default_factory=dict)
    # Segment → arm → mean predicted outcome on held-out users: the bandit's starting belief.
    bandit_priors: dict[str, dict[str, float]] = Field(default_factory=dict)
    # XGBoost's own outputs on fixed probe rows (numpy .npz), written by the trainer: the ONNX copies
    # are checked against them at load without importing XGBoost (see shared.bundle).
    parity_reference_file: str | None = None
    files: dict[str, str] = Field(default_factory=dict)

    def model_files(self) -> list[str]:
        """Every file the manifest tells a loader to read, each of which must carry a checksum."""
        spec = self.uplift_model
        names = [*spec.booster_files, *(spec.onnx_files or [])]
        names += [f for arm in spec.member_files or [] for f in arm]
        if self.ranker is not None:
            r = self.ranker
            names += [r.booster_file, r.catalog_file, r.catalog_matrix_file, r.catalog_ids_file]
            names += [r.onnx_file] if r.onnx_file else []
        names += [self.parity_reference_file] if self.parity_reference_file else []
        return names


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def new_version() -> str:
    now = datetime.now(UTC)
    return f"v{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(
    models_dir: Path, version: str, write: Callable[[Path], Manifest], *, make_current: bool = True
) -> Path:
    """Run ``write(staging_dir)`` (which returns the manifest), checksum, move into place, point at it.

    Any exception inside ``write`` removes the staging folder and leaves the pointer untouched.
    """
    models_dir = Path(models_dir)
    if not models_dir.parent.exists():
        raise ArtifactError(f"--out: parent folder {models_dir.parent} does not exist; create it first")
    models_dir.mkdir(exist_ok=True)
    staging = models_dir / f".staging-{version}"
    final = models_dir / version
    if final.exists():
        raise ArtifactError(f"version {version} already exists in {models_dir}; versions are immutable")
    staging.mkdir()
    try:
        manifest = write(staging)
        files = {
            p.relative_to(staging).as_posix(): sha256_file(p)
            for p in sorted(staging.rglob("*"))
            if p.is_file() and p.name != MANIFEST
        }
        manifest = manifest.model_copy(update={"files": files, "version": version})
        (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
        for p in staging.rglob("*"):
            if p.is_file():
                with p.open("rb") as fh:
                    os.fsync(fh.fileno())
        staging.rename(final)
        _fsync_dir(models_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if make_current:
        set_current(models_dir, version)
    return final


def set_current(models_dir: Path, version: str) -> None:
    """Atomically point ``CURRENT`` at a version (after verifying it), with its manifest's sha256.

    The pointer is two lines, ``<version>`` and ``manifest-sha256 <hex>``: the manifest carries every
    other file's checksum, and the pointer the manifest's, so no file of the version can change
    unnoticed, the manifest included.
    """
    verify(Path(models_dir) / version)
    digest = sha256_file(Path(models_dir) / version / MANIFEST)
    tmp = Path(models_dir) / f".{POINTER}.{uuid.uuid4().hex}"
    tmp.write_text(f"{version}\n{_DIGEST_TAG} {digest}\n")
    with tmp.open("rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, Path(models_dir) / POINTER)
    _fsync_dir(Path(models_dir))


def current_version(models_dir: Path) -> str:
    return read_pointer(models_dir)[0]


def read_pointer(models_dir: Path) -> tuple[str, str | None]:
    """The current version and its manifest's sha256 (None in a one-line pointer of an older build)."""
    pointer = Path(models_dir) / POINTER
    if not pointer.exists():
        raise ArtifactError(
            f"no current model in {models_dir} (no {POINTER} file); "
            f"run `uplift train --out {models_dir}` first"
        )
    lines = pointer.read_text().strip().splitlines()
    version = lines[0].strip() if lines else ""
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise ArtifactError(f"{pointer} is malformed ({version!r}); point it at a version folder or retrain")
    if len(lines) == 1:
        return version, None
    tag, _, digest = lines[1].strip().partition(" ")
    if len(lines) > 2 or tag != _DIGEST_TAG or not _HEX64.fullmatch(digest):
        raise ArtifactError(
            f"{pointer} is malformed (second line must be '{_DIGEST_TAG} <64 hex digits>'); "
            "point it at a version folder again or retrain"
        )
    return version, digest


def read_manifest(version_dir: Path) -> Manifest:
    path = Path(version_dir) / MANIFEST
    if not path.exists():
        raise ArtifactError(f"{path} is missing; the folder is not a complete model version, retrain it")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); the artifact is corrupt, retrain it") from exc
    fmt = raw.get("format_version") if isinstance(raw, dict) else None
    if fmt != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format_version {fmt!r} is not supported (this build reads {FORMAT_VERSION}); "
            "retrain with this version of uplift-engine"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ArtifactError(
            f"{path} does not match the manifest schema: {exc.errors()[0]}; retrain it"
        ) from exc


def verify(version_dir: Path, manifest_digest: str | None = None) -> Manifest:
    """Check the manifest (against ``manifest_digest`` when given) and every listed file; return it.

    Every file the manifest names must lie inside the version folder (no absolute path, no ``..``,
    no symlink out of it): a manifest is data, and must not make the loader read anything else.
    """
    version_dir = Path(version_dir)
    if not version_dir.is_dir():
        raise ArtifactError(f"{version_dir} does not exist; retrain or fix the {POINTER} pointer")
    if manifest_digest is not None and sha256_file_if_any(version_dir / MANIFEST) != manifest_digest:
        raise ArtifactError(
            f"{version_dir / MANIFEST}: sha256 does not match the one in {POINTER} (corrupt or edited); "
            "retrain this version"
        )
    manifest = read_manifest(version_dir)
    if not manifest.files:
        raise ArtifactError(f"{version_dir}: manifest lists no files; the artifact is incomplete, retrain it")
    unchecked = [f for f in manifest.model_files() if f not in manifest.files]
    if unchecked:
        # A file read at load but absent from the checksums could have been swapped unnoticed.
        raise ArtifactError(
            f"{version_dir}: manifest names {unchecked} without a checksum (edited manifest); retrain it"
        )
    root = version_dir.resolve()
    for rel in [*manifest.files, *manifest.model_files()]:
        if not _inside(root, rel):
            raise ArtifactError(
                f"{version_dir}: manifest names {rel!r}, outside the version folder (edited manifest); retrain it"
            )
    for rel, expected in manifest.files.items():
        path = version_dir / rel
        if not path.is_file():
            raise ArtifactError(f"{path} is listed in the manifest but missing; retrain this version")
        if sha256_file(path) != expected:
            raise ArtifactError(
                f"{path}: sha256 does not match the manifest (corrupt or edited); retrain this version"
            )
    return manifest


def resolve_current(models_dir: Path) -> tuple[Path, Manifest]:
    version, manifest_digest = read_pointer(models_dir)
    version_dir = Path(models_dir) / version
    return version_dir, verify(version_dir, manifest_digest)


def _inside(root: Path, rel: str) -> bool:
    """Whether ``rel`` names a path under ``root`` (``root`` resolved), symlinks followed."""
    if not rel or Path(rel).is_absolute() or "\\" in rel or ".." in Path(rel).parts:
        return False
    return (root / rel).resolve().is_relative_to(root)


def sha256_file_if_any(path: Path) -> str | None:
    return sha256_file(path) if path.is_file() else None


def write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=float))
