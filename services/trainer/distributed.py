"""`uplift train --dask-scheduler`: the training rows stay on the cluster, the rest of the run is unchanged.

What runs where:
- on the workers: reading, the row checks and per-arm counts, encoding, and every final fit (the
  T-learner's outcome boosters, the DR-learner's cross-fitted outcome models and pseudo-outcome
  regression, the same again on arms shuffled within each partition for the placebo) through
  ``xgboost.dask``;
- on the client: the held-out rows (``--test-fraction`` of the file, the same rows as a single-machine
  run) for the evaluation and export of ``pipeline.train``; and the choice between T and DR, cross-fitted
  by the usual out-of-fold Qini on a seeded sample of at most ``selection_rows`` training rows, with the
  uncertainty members fitted on that sample as in a single-machine run.
The artifacts are the same native boosters and manifest, so ``uplift serve`` cannot tell the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from services.trainer import sampled
from services.trainer.dask_data import TEST, describe_cluster, read_dask, validate_dask, with_split
from services.trainer.data import UNSEEN_CATEGORY_RULE, FileSpec, TrainingData
from services.trainer.data import _feature_columns as feature_columns
from services.trainer.learning import Learned
from services.trainer.pipeline import Prefitted, TrainResult
from services.trainer.pipeline import train as train_pipeline
from services.trainer.settings import TrainerSettings
from services.trainer.validate import ValidationReport
from shared import synthetic as syn
from shared.estimators.dask_learners import (
    ARM,
    LABEL,
    U_FOLD,
    U_VALID,
    BoostSettings,
    DaskRows,
    fit_dr_dask,
    fit_t_dask,
)
from shared.estimators.served import ServedModel
from shared.schema import FeatureSchema

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

Step = Callable[[str], Any]


def _encode_part(
    part: pd.DataFrame, schema: FeatureSchema, names: list[str], treatment: str, outcome: str,
    arms: list[Any], seed: int, number: int,
) -> pd.DataFrame:  # fmt: skip
    X, _ = schema.encode_frame(part[schema.names])
    arm_index = {a: k for k, a in enumerate(arms)}
    rng = np.random.default_rng([seed, 31, number])
    out = pd.DataFrame(X, columns=names, index=part.index)
    out[ARM] = part[treatment].map(arm_index).to_numpy(dtype=np.int8)
    out[LABEL] = part[outcome].astype("float64").to_numpy()
    out[U_VALID] = rng.random(len(part))
    out[U_FOLD] = rng.random(len(part))
    return out


def _shuffle_part(part: pd.DataFrame, seed: int, number: int) -> pd.DataFrame:
    """Arms permuted within the partition: the placebo refit sees the same rows with no link to the arm."""
    rng = np.random.default_rng([seed, 2, number])
    return part.assign(**{ARM: rng.permutation(part[ARM].to_numpy())})


@dataclass
class DaskRun:
    """A validated experiment log on the cluster, ready to train (``validate`` first, as TrainingData)."""

    client: Client
    spec: FileSpec
    frame: dd.DataFrame
    features: list[str]
    truth: list[str]
    description: dict[str, Any]
    control: Any = None
    report: ValidationReport | None = None

    @property
    def treatment(self) -> str:
        return self.spec.treatment

    def validate(self, expected_split: Mapping[str, float] | None, limits: Any) -> ValidationReport:
        s = self.spec
        self.report, self.control = validate_dask(
            self.frame, treatment=s.treatment, outcome=s.outcome, features=self.features, control=s.control,
            id_column=s.id_column, outcome_kind=s.outcome_kind, expected_split=expected_split, limits=limits,
        )  # fmt: skip
        self.description["validation"] = self.report.to_dict()
        return self.report

    def train(self, out: Path, settings: TrainerSettings, **kwargs: Any) -> TrainResult:
        """Split, fit on the cluster, then evaluate and publish the held-out rows through ``pipeline.train``."""
        assert self.report is not None, "validate() first"
        report: Step = kwargs.get("progress") or (lambda _m: None)
        started = time.perf_counter()
        s = self.spec
        report("split on the cluster (the single-machine held-out rows)")
        frame, sizes = with_split(self.frame, settings.test_fraction, s.seed)
        frame = self.client.persist(frame)
        held_out = frame[frame[TEST]].drop(columns=[TEST]).compute().reset_index(drop=True)
        data = TrainingData(
            frame=held_out, features=self.features, treatment=s.treatment, outcome=s.outcome,
            control=self.control, source="file", seed=s.seed, path=str(s.path), categorical=list(s.categorical),
            id_column=s.id_column, description=self.description, outcome_kind=s.outcome_kind,
        )  # fmt: skip
        # Categories are read from the held-out rows (a random share of the file); a category only in the
        # training rows is encoded as all-zero there, the rule uplift score applies to unseen categories.
        schema = data.schema()
        learned, timings = self._learn(frame[~frame[TEST]], schema, settings, report)
        info = describe_cluster(self.client)
        training = {
            "where": "dask",
            **info,
            "partitions": len(sizes),
            "rows_per_partition": {"min": int(sizes.min()), "max": int(sizes.max())},
            "learners": list(sampled.OUT_OF_CORE_LEARNERS),
            "learners_reason": sampled.SUBSET_REASON,
            "cluster_seconds": timings,
            "fit_wall_seconds": round(time.perf_counter() - started, 2),
        }
        prefitted = Prefitted(
            learned=learned, schema=schema, train_rows=int(sizes.sum()) - len(held_out), report=training
        )
        return train_pipeline(data, out, settings, prefitted=prefitted, **kwargs)

    def _learn(
        self, train_rows: dd.DataFrame, schema: FeatureSchema, settings: TrainerSettings, report: Step
    ) -> tuple[Learned, dict[str, float]]:
        assert self.report is not None
        s, arms, kind = self.spec, self.report.arms, self.report.outcome_kind
        names = [f"f{i}" for i in range(schema.n_encoded)]
        meta = pd.DataFrame({n: np.zeros(0, np.float32) for n in names})
        meta[ARM] = np.zeros(0, np.int8)
        for col in (LABEL, U_VALID, U_FOLD):
            meta[col] = np.zeros(0, np.float64)
        parts = train_rows.to_delayed()
        import dask.dataframe as dd
        from dask import delayed

        encoded = dd.from_delayed(
            [delayed(_encode_part)(p, schema, names, s.treatment, s.outcome, arms, s.seed, i)
             for i, p in enumerate(parts)],
            meta=meta, verify_meta=False,
        )  # fmt: skip
        encoded = self.client.persist(encoded)
        counts = encoded[ARM].value_counts().compute()
        arm_counts = [int(counts.get(k, 0)) for k in range(len(arms))]
        rows = DaskRows(encoded, names, list(arms), kind, arm_counts)
        timings: dict[str, float] = {}
        n_train = int(sum(arm_counts))
        frac = min(1.0, settings.selection_rows / max(n_train, 1))
        picked = encoded.sample(frac=frac, random_state=s.seed + 11).compute()
        sample = sampled.Sample(
            X=picked[names].to_numpy(np.float32),
            t=np.asarray(arms)[picked[ARM].to_numpy()],
            y=picked[LABEL].to_numpy(np.float64),
        )
        candidates = sampled.out_of_core_candidates(settings.learner, kind, len(arms), "--dask-scheduler")
        t0 = time.perf_counter()
        codes, selection = sampled.choose(sample, list(arms), kind, settings, s.seed, candidates, report)
        timings["select"] = round(time.perf_counter() - t0, 2)
        boost = BoostSettings(n_estimators=settings.max_trees, seed=s.seed, n_jobs=0)
        t0 = time.perf_counter()
        report(f"fit {'+'.join(codes)} on the cluster ({n_train} training rows)")
        served = self._fit_form(rows, codes, boost, settings)
        timings["fit"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        report("placebo fit on the cluster (arms shuffled within partitions)")
        shuffled = dd.from_delayed(
            [delayed(_shuffle_part)(p, s.seed, i) for i, p in enumerate(encoded.to_delayed())],
            meta=meta, verify_meta=False,
        )  # fmt: skip
        placebo = self._fit_form(
            DaskRows(shuffled, names, list(arms), kind, arm_counts), codes, boost, settings
        )
        timings["placebo"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        report("effect samples on the selection sample")
        members = sampled.members(sample, list(arms), kind, settings, s.seed, selection)
        timings["members"] = round(time.perf_counter() - t0, 2)
        learned = Learned(
            served=served, placebo=placebo, selection=selection, members=members, forced=len(candidates) == 1
        )
        return learned, timings

    def _fit_form(
        self, rows: DaskRows, codes: list[str], boost: BoostSettings, settings: TrainerSettings
    ) -> ServedModel:
        baseline = fit_t_dask(self.client, rows, boost)
        members: list[Any] = [
            baseline if c == "t" else fit_dr_dask(self.client, rows, boost, propensity=None) for c in codes
        ]
        return ServedModel(baseline=baseline, members=members, codes=codes)


def open_run(client: Client, spec: FileSpec) -> DaskRun:
    """The file's columns chosen by the same rules as ``from_file`` (errors name the option and column)."""
    frame = read_dask(str(spec.path))
    available = [str(c) for c in frame.columns]
    features = feature_columns(spec, available)
    wanted = [spec.treatment, spec.outcome, *([spec.id_column] if spec.id_column else []), *features]
    truth = [c for c in available if syn.is_truth_column(c) and c not in wanted and c != "response_type"]
    frame = frame[wanted + truth]
    description = {
        "format": "dask " + ("csv" if str(spec.path).lower().endswith((".csv", ".csv.gz")) else "parquet"),
        "columns": {c: str(t) for c, t in frame.dtypes.items()},
        "excluded": sorted(set(available) - set(wanted) - set(truth)),
        "truth_columns": truth,
        "unseen_category_rule": UNSEEN_CATEGORY_RULE,
    }
    return DaskRun(
        client=client, spec=spec, frame=frame, features=features, truth=truth, description=description
    )
