"""Probe rows and XGBoost's outputs on them: how a loaded model's fast serving copies are checked.

The trainer stores XGBoost's outputs on seeded probe rows beside the model (``PARITY_REFERENCE_FILE``);
at load, ``shared.bundle`` scores the same rows with the ONNX copies, the pair scorer and the member
forest and serves them only if they agree (``shared.onnx_runtime.PARITY_TOL``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from shared.ranking_features import pair_matrix
from shared.schema import FeatureSchema

if TYPE_CHECKING:
    import xgboost as xgb

PARITY_REFERENCE_FILE = "parity_reference.npz"
# Users drawn by probe_matrix and paired with every catalog item to check the ranker's ONNX copy.
RANKER_PROBE_USERS = 32


def probe_matrix(schema: FeatureSchema, n: int = 256, seed: int = 0) -> np.ndarray:
    """Random rows that respect the schema (numeric ranges, one category per block) for parity checks."""
    rng = np.random.default_rng(seed)
    cols: list[np.ndarray] = []
    for f in schema.features:
        if f.kind == "numeric":
            lo = f.minimum if f.minimum is not None else 0.0
            hi = f.maximum if f.maximum is not None else 1.0
            cols.append(rng.uniform(lo, hi if hi > lo else lo + 1.0, size=(n, 1)))
        else:
            assert f.categories is not None
            block = np.zeros((n, len(f.categories)))
            block[np.arange(n), rng.integers(0, len(f.categories), n)] = 1.0
            cols.append(block)
    return np.hstack(cols).astype(np.float32)


def ranker_probe(
    schema: FeatureSchema,
    catalog_encoded: np.ndarray,
    cross_idx: list[tuple[int, int]],
    n_users: int = RANKER_PROBE_USERS,
    seed: int = 0,
) -> np.ndarray:
    """(user, item) rows pairing ``probe_matrix`` users with every catalog item, as served."""
    users = probe_matrix(schema, n_users, seed)
    n_items = len(catalog_encoded)
    return pair_matrix(np.repeat(users, n_items, axis=0), np.tile(catalog_encoded, (n_users, 1)), cross_idx)


def outcome_reference(schema: FeatureSchema, boosters: list[xgb.Booster]) -> dict[str, np.ndarray]:
    """The outcome models' XGBoost outputs (one column per arm) on ``probe_matrix`` rows."""
    probe = probe_matrix(schema)
    scores = np.column_stack([b.inplace_predict(probe) for b in boosters]).astype(np.float64)
    return {"outcome_probe": probe, "outcome_scores": scores}


def ranker_reference(
    schema: FeatureSchema,
    ranker: xgb.Booster,
    catalog_encoded: np.ndarray,
    cross_idx: list[tuple[int, int]],
) -> dict[str, np.ndarray]:
    """The ranker's XGBoost scores on ``ranker_probe`` rows."""
    probe = ranker_probe(schema, catalog_encoded, cross_idx)
    return {
        "ranker_probe": probe,
        "ranker_scores": np.asarray(ranker.inplace_predict(probe), dtype=np.float64),
    }


def parity_reference(
    schema: FeatureSchema,
    boosters: list[xgb.Booster],
    ranker: xgb.Booster | None = None,
    catalog_encoded: np.ndarray | None = None,
    cross_idx: list[tuple[int, int]] | None = None,
) -> dict[str, np.ndarray]:
    """XGBoost's outputs on the probe rows, for the trainer to store beside the model."""
    out = outcome_reference(schema, boosters)
    if ranker is not None and catalog_encoded is not None and cross_idx is not None:
        out.update(ranker_reference(schema, ranker, catalog_encoded, cross_idx))
    return out


def max_abs_error(reference: np.ndarray, got: np.ndarray) -> float:
    if reference.shape != got.shape:
        return float("inf")
    return float(np.max(np.abs(reference - got)))
