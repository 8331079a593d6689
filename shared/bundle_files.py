"""Reading one model version's files: its boosters, the parity reference and the ranker's catalog.

Every failure is an ``ArtifactError`` naming the file and what to do (retrain), never a bare XGBoost or
NumPy error: the API reports it and keeps serving the version it has.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shared.artifacts import ArtifactError, Manifest
from shared.ranking_features import cross_indices

if TYPE_CHECKING:
    import xgboost as xgb

log = logging.getLogger(__name__)


def _load_booster(path: Path) -> xgb.Booster:
    import xgboost as xgb

    booster = xgb.Booster(model_file=str(path))
    # One thread per call: the API parallelizes across requests/workers, not inside a 1-row predict.
    booster.set_param({"nthread": 1})
    return booster


def read_booster(version_dir: Path, name: str) -> xgb.Booster:
    import xgboost as xgb

    try:
        return _load_booster(version_dir / name)
    except xgb.core.XGBoostError as exc:
        # XGBoost's message carries its C++ stack trace after the first line: the reader needs the first.
        reason = (str(exc).strip().splitlines() or ["unknown error"])[0]
        raise ArtifactError(
            f"{version_dir / name}: a booster cannot be read ({reason}); retrain this version"
        ) from exc


def read_boosters(version_dir: Path, manifest: Manifest) -> list[xgb.Booster]:
    boosters = [read_booster(version_dir, f) for f in manifest.uplift_model.booster_files]
    n_features = manifest.features.n_encoded
    for f, b in zip(manifest.uplift_model.booster_files, boosters, strict=True):
        if b.num_features() != n_features:
            raise ArtifactError(
                f"{version_dir / f}: booster expects {b.num_features()} features but the manifest "
                f"schema encodes {n_features}; the artifact is inconsistent, retrain it"
            )
    return boosters


def read_reference(version_dir: Path, manifest: Manifest) -> dict[str, np.ndarray] | None:
    if manifest.parity_reference_file is None:
        return None
    try:
        with np.load(version_dir / manifest.parity_reference_file, allow_pickle=False) as npz:
            ref = {k: np.asarray(npz[k]) for k in npz.files}
    except (OSError, ValueError) as exc:
        log.warning("parity reference unreadable (%s); checking ONNX against XGBoost itself", exc)
        return None
    if not {"outcome_probe", "outcome_scores"} <= ref.keys():
        log.warning("parity reference lacks the outcome probe; checking ONNX against XGBoost itself")
        return None
    return ref


@dataclass
class Catalog:
    item_ids: np.ndarray
    encoded: np.ndarray
    top_sellers: list[str]
    index: dict[str, int] = field(default_factory=dict)

    @cached_property
    def id_list(self) -> list[str]:
        """Item ids as plain strings: picking ten from a list beats converting a numpy slice per request."""
        return [str(i) for i in self.item_ids]


def read_catalog(version_dir: Path, manifest: Manifest) -> tuple[Catalog, list[tuple[int, int]]]:
    spec = manifest.ranker
    assert spec is not None
    encoded = np.load(version_dir / spec.catalog_matrix_file, allow_pickle=False)
    ids = np.array(json.loads((version_dir / spec.catalog_ids_file).read_text()), dtype=object)
    if encoded.shape != (len(ids), spec.item_schema.n_encoded):
        raise ArtifactError(
            f"{version_dir}: catalog matrix {encoded.shape} does not match its ids/schema; retrain"
        )
    catalog = Catalog(
        item_ids=ids,
        encoded=encoded,
        top_sellers=list(spec.top_sellers),
        index={item: i for i, item in enumerate(ids)},
    )
    return catalog, cross_indices(manifest.features, spec.item_schema, spec.crosses)
