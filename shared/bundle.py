"""A loaded, verified model version: what the API and batch scoring use to answer.

Loading does all the slow work once (checksums, ONNX sessions, parity probe (``shared.parity``), catalog encoding) so
that answering is a couple of small matrix operations. When the trainer recorded XGBoost's own
outputs on fixed probe rows (``parity_reference_file``), the ONNX copies are checked against those
and the XGBoost boosters, which serve only large batches, load later (``load_boosters``): importing
XGBoost and the scipy it pulls in is ~0.6 s of the API's start-up. Without a reference, or when the
ONNX copies fail it, the boosters load at once and serve, as before.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shared.artifacts import ArtifactError, Manifest, resolve_current, verify
from shared.bundle_files import (
    Catalog,
    read_booster,
    read_boosters,
    read_catalog,
    read_reference,
)
from shared.effect_form import T_LEARNER_FORM, EffectForm, combine, effect_interval, effect_samples
from shared.onnx_runtime import PARITY_TOL, OnnxModel
from shared.pair_trees import PairTreeScorer
from shared.parity import max_abs_error, outcome_reference, ranker_reference
from shared.ranking_features import pair_matrix
from shared.schema import FeatureSchema
from shared.segments import segment_codes, segment_labels

if TYPE_CHECKING:
    import xgboost as xgb

log = logging.getLogger(__name__)

# Measured crossover on a 2-core machine: ONNX wins below ~300 rows per call, XGBoost above.
ONNX_MAX_ROWS = 256
# The ranker's crossover in (user, item) rows per call, measured on this 2-core machine with the default
# ranker (45 trees, depth 5), both single-threaded, mean over 20 row blocks: ONNX Runtime 207 µs vs
# XGBoost 235 µs at 200 rows, 247 vs 252 at 240, 292 vs 273 at 280, 608 vs 445 at 600. So one user's
# 200-item catalog (or a candidate subset) goes to ONNX, two users or more to XGBoost. More trees
# raise ONNX's per-row cost faster than XGBoost's and move the crossover down.
RANKER_ONNX_MAX_ROWS = 250
# Users ranked one by one by the pair scorer (50-90 µs each for 200 items here); more go to XGBoost.
PAIR_SCORER_MAX_USERS = 16
# Distinct users of the reference's ranker probe the pair scorer must reproduce before it serves.
PAIR_PROBE_USERS = 8


@dataclass
class ModelBundle:
    version: str
    path: Path
    manifest: Manifest
    onnx: list[OnnxModel] | None
    catalog: Catalog | None
    cross_idx: list[tuple[int, int]]
    parity_max_error: float | None
    ranker_onnx: OnnxModel | None = None
    ranker_parity_max_error: float | None = None
    reference: dict[str, np.ndarray] | None = None
    # Ranks one user's catalog ~4x faster than ONNX Runtime, bit-exact to XGBoost; built with the
    # boosters (it reads the ranker's trees) and checked against the booster before use.
    pair_scorer: PairTreeScorer | None = None
    pair_parity_max_error: float | None = None
    # Loaded at once or by ``load_boosters`` (see the module docstring); read through the properties.
    loaded_boosters: list[xgb.Booster] | None = None
    loaded_ranker: xgb.Booster | None = None
    _booster_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def boosters(self) -> list[xgb.Booster]:
        """The outcome models' XGBoost boosters (control first), loaded on first use if need be."""
        if self.loaded_boosters is None:
            self.load_boosters()
        assert self.loaded_boosters is not None
        return self.loaded_boosters

    @property
    def ranker(self) -> xgb.Booster | None:
        """The ranker's XGBoost booster, None without a ranker; loaded on first use if need be."""
        if self.manifest.ranker is None:
            return None
        if self.loaded_ranker is None:
            self.load_boosters()
        return self.loaded_ranker

    @property
    def has_ranker(self) -> bool:
        return self.manifest.ranker is not None and self.catalog is not None

    def load_boosters(self) -> None:
        """Read the XGBoost boosters if they are not yet (thread-safe; the API calls it after start-up).

        They must reproduce the trainer's reference outputs, as the ONNX copies did at load: a
        runtime whose XGBoost disagrees would otherwise answer large batches with other numbers.
        """
        with self._booster_lock:
            want_ranker = self.manifest.ranker is not None
            if self.loaded_boosters is not None and (not want_ranker or self.loaded_ranker is not None):
                return
            boosters = self.loaded_boosters
            if boosters is None:
                boosters = read_boosters(self.path, self.manifest)
            ranker = self.loaded_ranker
            if ranker is None and self.manifest.ranker is not None:
                ranker = read_booster(self.path, self.manifest.ranker.booster_file)
            ref = self.reference
            if ref is not None:
                err = max(
                    max_abs_error(
                        ref["outcome_scores"][:, i], np.asarray(b.inplace_predict(ref["outcome_probe"]))
                    )
                    for i, b in enumerate(boosters)
                )
                if ranker is not None and "ranker_scores" in ref:
                    got = np.asarray(ranker.inplace_predict(ref["ranker_probe"]))
                    err = max(err, max_abs_error(ref["ranker_scores"], got))
                if not err <= PARITY_TOL:
                    raise ArtifactError(
                        f"{self.path}: XGBoost here gives outputs {err:.3g} away from the trainer's "
                        "recorded ones; install the library versions in the manifest or retrain"
                    )
            self.loaded_boosters, self.loaded_ranker = boosters, ranker
            if ranker is not None and self.pair_scorer is None:
                self.pair_scorer, self.pair_parity_max_error = self._pair_scorer(ranker)

    def _pair_scorer(self, ranker: xgb.Booster) -> tuple[PairTreeScorer | None, float | None]:
        """The factorized ranker, if it reproduces the booster on the reference's probe users."""
        ref, cat = self.reference, self.catalog
        if ref is None or "ranker_probe" not in ref or cat is None:
            return None, None  # XGBoost-only serving, or a version without a reference: no fast path
        n_user = self.schema.n_encoded
        scorer = PairTreeScorer.from_xgboost_json(
            json.loads(bytes(ranker.save_raw("json"))), n_user, cat.encoded, self.cross_idx
        )
        if scorer is None:
            log.info("ranker of %s has trees the pair scorer does not cover; ranking with ONNX", self.version)
            return None, None
        users = np.unique(ref["ranker_probe"][:, :n_user], axis=0)[:PAIR_PROBE_USERS]
        err = max(
            max_abs_error(
                np.asarray(ranker.inplace_predict(pair_matrix(u, cat.encoded, self.cross_idx))),
                scorer.scores(u),
            )
            for u in users
        )
        if not err <= PARITY_TOL:
            log.warning("pair scorer parity error %.3g > %.0e; ranking with ONNX", err, PARITY_TOL)
            return None, err
        return scorer, err

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
        if not self.has_ranker:
            return None
        if self.pair_scorer is not None:
            return "pair_trees"
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
        if spec.outcome_boosters() != len(manifest.data.arms):
            raise ArtifactError(
                f"{version_dir}: {spec.outcome_boosters()} outcome boosters for arms {manifest.data.arms}; retrain"
            )
        reference = read_reference(version_dir, manifest) if use_onnx else None
        # What the ONNX copies must reproduce: the trainer's recorded XGBoost outputs, or, for a part
        # the record lacks (older versions), XGBoost's own outputs computed now.
        expected = dict(reference or {})
        boosters, ranker, catalog = None, None, None
        cross_idx: list[tuple[int, int]] = []
        if manifest.ranker is not None:
            catalog, cross_idx = read_catalog(version_dir, manifest)
        if use_onnx and spec.onnx_files and "outcome_scores" not in expected:
            boosters = read_boosters(version_dir, manifest)
            expected.update(outcome_reference(manifest.features, boosters))
        ranker_onnx_file = manifest.ranker.onnx_file if manifest.ranker is not None else None
        if use_onnx and ranker_onnx_file and "ranker_scores" not in expected:
            assert manifest.ranker is not None and catalog is not None
            ranker = read_booster(version_dir, manifest.ranker.booster_file)
            expected.update(ranker_reference(manifest.features, ranker, catalog.encoded, cross_idx))
        onnx, parity = None, None
        if use_onnx and spec.onnx_files:
            onnx, parity = cls._load_onnx(version_dir, spec.onnx_files, expected)
        ranker_onnx, ranker_parity = None, None
        if use_onnx and ranker_onnx_file:
            ranker_onnx, ranker_parity = cls._load_ranker_onnx(version_dir / ranker_onnx_file, expected)
        bundle = cls(
            version=manifest.version,
            path=version_dir,
            manifest=manifest,
            onnx=onnx,
            catalog=catalog,
            cross_idx=cross_idx,
            parity_max_error=parity,
            ranker_onnx=ranker_onnx,
            ranker_parity_max_error=ranker_parity,
            reference=reference,
            loaded_boosters=boosters,
            loaded_ranker=ranker,
        )
        if bundle.onnx is None or (manifest.ranker is not None and bundle.ranker_onnx is None):
            # Something serves from XGBoost at any size: have all of it now, not at the first request.
            bundle.load_boosters()
        return bundle

    @staticmethod
    def _load_onnx(
        version_dir: Path, files: list[str], reference: dict[str, np.ndarray]
    ) -> tuple[list[OnnxModel] | None, float | None]:
        probe, expected = reference["outcome_probe"], reference["outcome_scores"]
        try:
            models = [OnnxModel(version_dir / f) for f in files]
            got = np.column_stack([m.predict(probe) for m in models])
        except Exception as exc:  # onnxruntime raises its own exception types for graphs it cannot run
            log.warning("ONNX copies cannot run (%s); serving with XGBoost", exc)
            return None, None
        err = max_abs_error(expected, got)
        if not err <= PARITY_TOL:  # NaN outputs fail too
            # Serving the slower path is better than serving numbers that differ from the evaluated model.
            log.warning("ONNX parity error %.3g > %.0e; serving with XGBoost", err, PARITY_TOL)
            return None, err
        return models, err

    @staticmethod
    def _load_ranker_onnx(
        path: Path, reference: dict[str, np.ndarray]
    ) -> tuple[OnnxModel | None, float | None]:
        try:
            model = OnnxModel(path)
            got = model.predict(reference["ranker_probe"])
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            log.warning("ranker ONNX copy %s cannot run (%s); ranking with XGBoost", path.name, exc)
            return None, None
        err = max_abs_error(reference["ranker_scores"], got)
        if not err <= PARITY_TOL:  # NaN scores fail too
            log.warning("ranker ONNX parity error %.3g > %.0e; ranking with XGBoost", err, PARITY_TOL)
            return None, err
        return model, err

    # -- answering ------------------------------------------------------------------------------

    @cached_property
    def effect_form(self) -> EffectForm:
        raw = self.manifest.uplift_model.effect_form
        return T_LEARNER_FORM if raw is None else EffectForm.from_dict(raw)

    def predict_outcomes(self, X: np.ndarray) -> np.ndarray:
        """Expected outcome under each arm (columns in ``arms`` order, control first).

        Under arm k it is the control outcome plus the served effect (``shared.estimators.served``), so
        for a T-learner it is that arm's outcome model and for a direct effect model mu_0 + effect_k.
        """
        # ONNX Runtime has almost no per-call overhead but walks trees slower; XGBoost costs ~0.3 ms a
        # call and is faster per row. Both were checked to agree within PARITY_TOL at load.
        if self.onnx is not None and len(X) < ONNX_MAX_ROWS:
            raw = np.column_stack([m.predict(X) for m in self.onnx])
        else:
            return self.xgboost_outcomes(X)
        n = self.manifest.uplift_model.outcome_boosters()
        return combine(raw[:, :n], raw[:, n:], self.effect_form)

    def xgboost_outcomes(self, X: np.ndarray) -> np.ndarray:
        """``predict_outcomes`` computed by the XGBoost boosters alone: the reference the fast paths match."""
        raw = np.column_stack([b.inplace_predict(X) for b in self.boosters]).astype(np.float64)
        n = self.manifest.uplift_model.outcome_boosters()
        return combine(raw[:, :n], raw[:, n:], self.effect_form)

    @property
    def has_effect_samples(self) -> bool:
        return bool(self.manifest.uplift_model.member_files)

    @cached_property
    def members(self) -> list[list[xgb.Booster]]:
        """Effect-sample members per treatment arm (XGBoost, loaded on first use: only intervals need them)."""
        files = self.manifest.uplift_model.member_files
        if not files:
            raise ArtifactError("this model version has no effect samples; retrain it with this version")
        return [[read_booster(self.path, f) for f in arm] for arm in files]

    def _member_raw(self, X: np.ndarray) -> np.ndarray:
        return np.stack(
            [np.column_stack([m.inplace_predict(X) for m in arm]).astype(np.float64) for arm in self.members],
            axis=1,
        )

    def effect_intervals(
        self, X: np.ndarray, effects: np.ndarray, level: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Interval of each user's effect per treatment arm (n, arms − 1), around the served ``effects``."""
        return effect_interval(
            effects.reshape(len(X), -1), self._member_raw(X), level, self.effect_form.slopes
        )

    def effect_samples(self, X: np.ndarray, effects: np.ndarray) -> np.ndarray:
        """Plausible effects per user, arm and member (n, arms − 1, members), centred on ``effects``."""
        return effect_samples(effects.reshape(len(X), -1), self._member_raw(X), self.effect_form.slopes)

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
        """Ranker score of every (user, catalog item) pair, shape (users, items).

        A few users go to the pair scorer once the boosters are loaded (one user at a time, no pair
        rows built); otherwise one call for the whole batch, since each call has a fixed cost: ONNX
        Runtime below RANKER_ONNX_MAX_ROWS rows, XGBoost above. Every path was checked to agree with
        the booster within PARITY_TOL before it serves.
        """
        cat = self._catalog_for_ranking()
        scorer = self.pair_scorer
        if scorer is not None and len(user_rows) <= PAIR_SCORER_MAX_USERS:
            # Scores the whole catalog per user; a candidate subset is a column selection of that.
            if len(user_rows) == 1:
                full = scorer.scores(user_rows[0])[None, :]
            elif len(user_rows):
                full = np.stack([scorer.scores(u) for u in user_rows])
            else:
                full = np.zeros((0, scorer.n_items))
            return full if idx is None else full[:, idx]
        items = cat.encoded if idx is None else cat.encoded[idx]
        users = np.repeat(user_rows, len(items), axis=0)
        pairs = pair_matrix(users, np.tile(items, (len(user_rows), 1)), self.cross_idx)
        if self.ranker_onnx is not None and len(pairs) < RANKER_ONNX_MAX_ROWS:
            scores = self.ranker_onnx.predict(pairs)
        else:
            ranker = self.ranker
            assert ranker is not None
            scores = np.asarray(ranker.inplace_predict(pairs), dtype=np.float64)
        return scores.reshape(len(user_rows), len(items))

    def _catalog_for_ranking(self) -> Catalog:
        if not self.has_ranker or self.catalog is None:
            raise ArtifactError("this model version has no ranker; train with a catalog and impression log")
        return self.catalog
