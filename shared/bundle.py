"""A loaded, verified model version: what the API and batch scoring use to answer.

Loading does all the slow work once (checksums, booster parsing, ONNX sessions, parity probe,
catalog encoding) so that answering is a couple of small matrix operations.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xgboost as xgb

from shared.artifacts import ArtifactError, Manifest, resolve_current, verify
from shared.onnx_runtime import PARITY_TOL, OnnxModel, parity_error
from shared.ranking_features import cross_indices, pair_matrix
from shared.schema import FeatureSchema
from shared.segments import segment_codes, segment_labels

log = logging.getLogger(__name__)


# Measured crossover on a 2-core machine: ONNX wins below ~300 rows per call, XGBoost above.
ONNX_MAX_ROWS = 256
# The ranker's crossover in (user, item) rows per call, measured on this 2-core machine with the default
# ranker (45 trees, depth 5), both single-threaded, mean over 20 row blocks: ONNX Runtime 207 µs vs
# XGBoost 235 µs at 200 rows, 247 vs 252 at 240, 292 vs 273 at 280, 608 vs 445 at 600. So one user's
# 200-item catalog (or a candidate subset) goes to ONNX, two users or more to XGBoost. More trees
# raise ONNX's per-row cost faster than XGBoost's and move the crossover down.
RANKER_ONNX_MAX_ROWS = 250
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


def _load_booster(path: Path) -> xgb.Booster:
    booster = xgb.Booster(model_file=str(path))
    # One thread per call: the API parallelizes across requests/workers, not inside a 1-row predict.
    booster.set_param({"nthread": 1})
    return booster


@dataclass
class Catalog:
    item_ids: np.ndarray
    encoded: np.ndarray
    top_sellers: list[str]
    index: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelBundle:
    version: str
    path: Path
    manifest: Manifest
    boosters: list[xgb.Booster]
    onnx: list[OnnxModel] | None
    ranker: xgb.Booster | None
    catalog: Catalog | None
    cross_idx: list[tuple[int, int]]
    parity_max_error: float | None
    ranker_onnx: OnnxModel | None = None
    ranker_parity_max_error: float | None = None

    @property
    def schema(self) -> FeatureSchema:
        return self.manifest.features

    @property
    def arms(self) -> list[str]:
        return self.manifest.data.arms

    @property
    def serving_format(self) -> str:
        return "onnx" if self.onnx is not None else "xgboost"

    @property
    def ranker_format(self) -> str | None:
        """What serves small ranking calls (large ones always go to XGBoost); None without a ranker."""
        if self.ranker is None:
            return None
        return "onnx" if self.ranker_onnx is not None else "xgboost"

    @classmethod
    def load_current(cls, models_dir: Path, *, use_onnx: bool = True) -> ModelBundle:
        version_dir, manifest = resolve_current(models_dir)
        return cls._load(version_dir, manifest, use_onnx=use_onnx)

    @classmethod
    def load_version(cls, version_dir: Path, *, use_onnx: bool = True) -> ModelBundle:
        return cls._load(Path(version_dir), verify(version_dir), use_onnx=use_onnx)

    @classmethod
    def _load(cls, version_dir: Path, manifest: Manifest, *, use_onnx: bool) -> ModelBundle:
        spec = manifest.uplift_model
        if len(spec.booster_files) != len(manifest.data.arms):
            raise ArtifactError(
                f"{version_dir}: {len(spec.booster_files)} boosters for arms {manifest.data.arms}; retrain"
            )
        try:
            boosters = [_load_booster(version_dir / f) for f in spec.booster_files]
        except xgb.core.XGBoostError as exc:
            raise ArtifactError(
                f"{version_dir}: a booster cannot be read ({exc}); retrain this version"
            ) from exc
        n_features = manifest.features.n_encoded
        for f, b in zip(spec.booster_files, boosters, strict=True):
            if b.num_features() != n_features:
                raise ArtifactError(
                    f"{version_dir / f}: booster expects {b.num_features()} features but the manifest "
                    f"schema encodes {n_features}; the artifact is inconsistent, retrain it"
                )
        onnx, parity = None, None
        if use_onnx and spec.onnx_files:
            onnx, parity = cls._load_onnx(version_dir, spec.onnx_files, boosters, manifest.features)
        ranker, catalog = None, None
        cross_idx: list[tuple[int, int]] = []
        ranker_onnx, ranker_parity = None, None
        if manifest.ranker is not None:
            ranker, catalog, cross_idx = cls._load_ranker(version_dir, manifest)
            if use_onnx and manifest.ranker.onnx_file:
                probe = ranker_probe(manifest.features, catalog.encoded, cross_idx)
                ranker_onnx, ranker_parity = cls._load_ranker_onnx(
                    version_dir / manifest.ranker.onnx_file, ranker, probe
                )
        return cls(
            version=manifest.version,
            path=version_dir,
            manifest=manifest,
            boosters=boosters,
            onnx=onnx,
            ranker=ranker,
            catalog=catalog,
            cross_idx=cross_idx,
            parity_max_error=parity,
            ranker_onnx=ranker_onnx,
            ranker_parity_max_error=ranker_parity,
        )

    @staticmethod
    def _load_onnx(
        version_dir: Path, files: list[str], boosters: list[xgb.Booster], schema: FeatureSchema
    ) -> tuple[list[OnnxModel] | None, float | None]:
        probe = probe_matrix(schema)
        try:
            models = [OnnxModel(version_dir / f) for f in files]
            err = max(parity_error(b, m, probe) for b, m in zip(boosters, models, strict=True))
        except Exception as exc:  # onnxruntime raises its own exception types for graphs it cannot run
            log.warning("ONNX copies cannot run (%s); serving with XGBoost", exc)
            return None, None
        if not err <= PARITY_TOL:  # NaN outputs fail too
            # Serving the slower path is better than serving numbers that differ from the evaluated model.
            log.warning("ONNX parity error %.3g > %.0e; serving with XGBoost", err, PARITY_TOL)
            return None, err
        return models, err

    @staticmethod
    def _load_ranker_onnx(
        path: Path, ranker: xgb.Booster, probe: np.ndarray
    ) -> tuple[OnnxModel | None, float | None]:
        try:
            model = OnnxModel(path)
            err = parity_error(ranker, model, probe)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            log.warning("ranker ONNX copy %s cannot run (%s); ranking with XGBoost", path.name, exc)
            return None, None
        if not err <= PARITY_TOL:  # NaN scores fail too
            # Same rule as the outcome models: the evaluated booster's numbers or nothing.
            log.warning("ranker ONNX parity error %.3g > %.0e; ranking with XGBoost", err, PARITY_TOL)
            return None, err
        return model, err

    @staticmethod
    def _load_ranker(
        version_dir: Path, manifest: Manifest
    ) -> tuple[xgb.Booster, Catalog, list[tuple[int, int]]]:
        spec = manifest.ranker
        assert spec is not None
        ranker = _load_booster(version_dir / spec.booster_file)
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
        return ranker, catalog, cross_indices(manifest.features, spec.item_schema, spec.crosses)

    # -- answering ------------------------------------------------------------------------------

    def predict_outcomes(self, X: np.ndarray) -> np.ndarray:
        """Expected outcome under each arm (columns in ``arms`` order, control first)."""
        # ONNX Runtime has almost no per-call overhead but walks trees slower; XGBoost costs ~0.3 ms a
        # call and is faster per row. Both were checked to agree within PARITY_TOL at load.
        if self.onnx is not None and len(X) < ONNX_MAX_ROWS:
            return np.column_stack([m.predict(X) for m in self.onnx])
        return np.column_stack([b.inplace_predict(X) for b in self.boosters]).astype(np.float64)

    def segments(self, effects: np.ndarray) -> np.ndarray:
        seg = self.manifest.segments
        return segment_labels(effects, seg.lower, seg.upper)

    def segment_codes(self, effects: np.ndarray) -> np.ndarray:
        """Index into ``shared.segments.SEGMENTS`` per user: the batch path avoids Python strings."""
        seg = self.manifest.segments
        return segment_codes(effects, seg.lower, seg.upper)

    def rank_items(
        self, user_row: np.ndarray, candidates: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Item ids and ranker scores for one encoded user, best first."""
        cat = self._catalog_for_ranking()
        if candidates is None:
            idx = np.arange(len(cat.item_ids))
        else:
            idx = np.array([cat.index[c] for c in candidates], dtype=np.int64)
        scores = self.ranker_scores(user_row[None, :], idx)[0]
        order = np.argsort(-scores, kind="stable")
        return cat.item_ids[idx][order], scores[order].astype(np.float64)

    def ranker_scores(self, user_rows: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """Ranker score of every (user, catalog item) pair, shape (users, items), in one model call.

        One call for the whole batch, since each call has a fixed cost. Small batches go to ONNX
        Runtime (almost no fixed cost), large ones to XGBoost (cheaper per row); both were checked to
        agree within PARITY_TOL at load.
        """
        cat = self._catalog_for_ranking()
        assert self.ranker is not None
        items = cat.encoded if idx is None else cat.encoded[idx]
        users = np.repeat(user_rows, len(items), axis=0)
        pairs = pair_matrix(users, np.tile(items, (len(user_rows), 1)), self.cross_idx)
        if self.ranker_onnx is not None and len(pairs) < RANKER_ONNX_MAX_ROWS:
            scores = self.ranker_onnx.predict(pairs)
        else:
            scores = np.asarray(self.ranker.inplace_predict(pairs), dtype=np.float64)
        return scores.reshape(len(user_rows), len(items))

    def _catalog_for_ranking(self) -> Catalog:
        if self.ranker is None or self.catalog is None:
            raise ArtifactError("this model version has no ranker; train with a catalog and impression log")
        return self.catalog
