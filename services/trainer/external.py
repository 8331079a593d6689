"""`uplift train --external-memory` (automatic for a Parquet file above AUTO_ROWS rows): out-of-core training.

Memory stays flat as rows grow because nothing holds every row at once:
- validation runs one Parquet row group at a time (Dask's synchronous scheduler over the same checks
  as ``--dask-scheduler``, on per-arm totals; pyarrow's writer caps a row group at 1Mi rows); ID uniqueness spills 64-bit ID hashes to bucket files
  (``unique_ids``) instead of holding every ID;
- one streamed pass keeps the held-out rows to evaluate (the single-machine split, then a seeded
  sample of at most EVAL_ROWS of them), another encodes the training rows into an on-disk ``RowCache``;
- the T- and DR-learners (DR's cross-fitting included) train on ``ExtMemQuantileDMatrix`` pages built
  from that cache, the placebo on a copy with arms permuted within each cache batch;
- the learner choice and the uncertainty members use a seeded sample of at most ``selection_rows``.
Evaluation and export are ``pipeline.train`` on the held-out rows, so the artifacts are the usual ones.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services.trainer import sampled
from services.trainer.dask_data import read_dask, validate_dask
from services.trainer.data import UNSEEN_CATEGORY_RULE, FileSpec, TrainingData
from services.trainer.data import _feature_columns as feature_columns
from services.trainer.learning import Learned
from services.trainer.pipeline import Prefitted, TrainResult
from services.trainer.pipeline import train as train_pipeline
from services.trainer.settings import TrainerSettings
from services.trainer.unique_ids import count_duplicates
from services.trainer.validate import DataError, Limits, ValidationReport
from shared import synthetic as syn
from shared.estimators.extmem_learners import ExtSettings, fit_dr_extmem, fit_t_extmem, shuffled_copy
from shared.estimators.row_cache import RowCache, draws
from shared.estimators.served import ServedModel
from shared.schema import FeatureSchema

# Above this many rows a Parquet file trains out of core even without --external-memory: the in-memory
# path peaks near 1.2 GB per million rows (issue 16), so 2M rows is where a small machine starts to swap.
AUTO_ROWS = 2_000_000
# Held-out rows evaluated: the bootstrap of the evaluation holds resamples x rows weights.
EVAL_ROWS = 500_000
READ_BATCH_ROWS = 131_072
CACHE_BATCH_ROWS = 262_144
STREAM_EVAL = 41
STREAM_SAMPLE = 43
Step = Callable[[str], Any]


def release_memory() -> None:
    """Hand freed memory back to the system: Arrow's pool (mimalloc) and glibc keep it otherwise."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def row_group_batches(path: Path, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's rows in order, one row group read at a time (so at most one row group in memory).

    Not ``ParquetFile.iter_batches``: measured over a 10M-row file it kept ~30 MB more anonymous memory
    per million rows read (205 MB after 1M rows, 464 MB after 9M, released only when the pass ends),
    where reading row group by row group stayed at 151-174 MB throughout.
    """
    parquet = pq.ParquetFile(path)
    for group in range(parquet.metadata.num_row_groups):
        table = parquet.read_row_group(group, columns=columns)
        yield from table.to_batches(max_chunksize=batch_rows)
        del table


def parquet_rows(path: Path) -> int | None:
    """Rows of a Parquet file from its footer, or None for another format."""
    if not str(path).lower().endswith((".parquet", ".pq")) or not Path(path).is_file():
        return None
    return int(pq.ParquetFile(path).metadata.num_rows)


def _test_rows(seed: int, start: int, n: int, fraction: float) -> np.ndarray:
    # split_mask's stream: PCG64(seed + 1), one draw per row; jump to this batch's first row.
    generator = np.random.PCG64(seed + 1)
    generator.advance(start)
    return np.random.Generator(generator).random(n) < fraction


@dataclass
class ExternalRun:
    spec: FileSpec
    features: list[str]
    wanted: list[str]
    description: dict[str, Any]
    rows: int
    batch_rows: int = CACHE_BATCH_ROWS
    control: Any = None
    report: ValidationReport | None = None

    @property
    def treatment(self) -> str:
        return self.spec.treatment

    def validate(self, expected_split: Mapping[str, float] | None, limits: Limits) -> ValidationReport:
        import dask

        s = self.spec
        with dask.config.set(scheduler="sync"):
            # IDs are checked below by spilling hashes to disk: Dask's nunique holds every distinct ID.
            self.report, self.control = validate_dask(
                read_dask(str(s.path), self.wanted, per_row_group=True), treatment=s.treatment, outcome=s.outcome,
                features=self.features, control=s.control, id_column=None, outcome_kind=s.outcome_kind,
                expected_split=expected_split, limits=limits,
            )  # fmt: skip
        release_memory()
        if s.id_column is not None:
            self._check_ids(s.id_column)
        self.description["validation"] = self.report.to_dict()
        return self.report

    def _check_ids(self, column: str) -> None:
        def ids() -> Iterator[pd.Series]:
            for batch in row_group_batches(self.spec.path, [column], READ_BATCH_ROWS):
                yield batch.column(0).to_pandas()

        duplicated, example = count_duplicates(ids)
        if duplicated:
            raise DataError(
                column,
                f"ID column has {duplicated} duplicated value(s), e.g. {example!r}; "
                "each row must be one unit of the experiment",
            )

    def _batches(self) -> Iterator[tuple[int, pd.DataFrame]]:
        start = 0
        for batch in row_group_batches(self.spec.path, self.wanted, READ_BATCH_ROWS):
            frame = batch.to_pandas()
            yield start, frame
            start += len(frame)
        release_memory()

    def train(self, out: Path, settings: TrainerSettings, **kwargs: Any) -> TrainResult:
        assert self.report is not None, "validate() first"
        report: Step = kwargs.get("progress") or (lambda _m: None)
        started = time.perf_counter()
        s, arms, kind = self.spec, self.report.arms, self.report.outcome_kind
        expected_test = max(1.0, self.rows * settings.test_fraction)
        eval_share = min(1.0, EVAL_ROWS / expected_test)
        report(f"stream the held-out rows (the single-machine split; up to {EVAL_ROWS} evaluated)")
        held: list[pd.DataFrame] = []
        n_test = 0
        for start, frame in self._batches():
            test = _test_rows(s.seed, start, len(frame), settings.test_fraction)
            n_test += int(test.sum())
            keep = test & (draws(s.seed, STREAM_EVAL, start, len(frame)) < eval_share)
            held.append(frame[keep])
        held_out = pd.concat(held, ignore_index=True)
        del held
        report(
            f"evaluate on {len(held_out)} of the {n_test} held-out rows (a seeded sample: at most {EVAL_ROWS} "
            "are evaluated, so evaluation memory does not grow with the rows)"
        )
        data = TrainingData(
            frame=held_out, features=self.features, treatment=s.treatment, outcome=s.outcome, control=self.control,
            source="file", seed=s.seed, path=str(s.path), categorical=list(s.categorical), id_column=s.id_column,
            description=self.description, outcome_kind=s.outcome_kind,
        )  # fmt: skip
        schema = data.schema()
        with tempfile.TemporaryDirectory(prefix="uplift-rows-") as tmp:
            learned, info = self._learn(Path(tmp), schema, arms, kind, settings, report)
        n_train = self.rows - n_test
        training = {
            "where": "external memory",
            "rows": self.rows,
            "held_out_rows": n_test,
            "evaluated_rows": len(held_out),
            "evaluation_rule": f"a seeded sample of at most {EVAL_ROWS} of the held-out rows",
            "learners": list(sampled.OUT_OF_CORE_LEARNERS),
            "learners_reason": sampled.SUBSET_REASON,
            "auto_above_rows": AUTO_ROWS,
            **info,
            "fit_wall_seconds": round(time.perf_counter() - started, 2),
        }
        prefitted = Prefitted(learned=learned, schema=schema, train_rows=n_train, report=training)
        return train_pipeline(data, out, settings, prefitted=prefitted, **kwargs)

    def _learn(
        self,
        tmp: Path,
        schema: FeatureSchema,
        arms: list[Any],
        kind: Any,
        settings: TrainerSettings,
        report: Step,
    ) -> tuple[Learned, dict[str, Any]]:
        s = self.spec
        index = {a: k for k, a in enumerate(arms)}
        cache = RowCache(tmp / "rows", schema.n_encoded, len(arms), s.seed, self.batch_rows)
        sample_share = min(1.0, settings.selection_rows / max(1.0, self.rows * (1 - settings.test_fraction)))
        picked: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        counts = np.zeros(len(arms), dtype=np.int64)
        report("encode the training rows into the on-disk row cache")
        for start, frame in self._batches():
            train = ~_test_rows(s.seed, start, len(frame), settings.test_fraction)
            rows = frame[train]
            X, _ = schema.encode_frame(rows[self.features])
            arm = rows[s.treatment].map(index).to_numpy(dtype=np.int8)
            y = rows[s.outcome].astype("float64").to_numpy()
            cache.append(X, arm, y)
            counts += np.bincount(arm, minlength=len(arms))
            take = draws(s.seed, STREAM_SAMPLE, start, len(frame))[train] < sample_share
            picked.append((X[take], arm[take], y[take]))
        cache.close()
        sample = sampled.Sample(
            X=np.concatenate([p[0] for p in picked]),
            t=np.asarray(arms)[np.concatenate([p[1] for p in picked])],
            y=np.concatenate([p[2] for p in picked]),
        )
        del picked
        candidates = sampled.out_of_core_candidates(settings.learner, kind, len(arms), "--external-memory")
        codes, selection = sampled.choose(sample, arms, kind, settings, s.seed, candidates, report)
        ext = ExtSettings(n_estimators=settings.max_trees, seed=s.seed, n_jobs=settings.n_jobs)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        report(f"fit {'+'.join(codes)} in external memory ({cache.rows} training rows)")
        served = self._fit_form(cache, codes, arms, kind, ext, counts.tolist())
        timings["fit"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        report("placebo fit (arms permuted within each cache batch)")
        placebo_rows = shuffled_copy(cache, tmp / "placebo", s.seed + 2)
        placebo = self._fit_form(placebo_rows, codes, arms, kind, ext, counts.tolist())
        timings["placebo"] = round(time.perf_counter() - t0, 2)
        report("effect samples on the selection sample")
        fitted_members = sampled.members(sample, arms, kind, settings, s.seed, selection)
        learned = Learned(
            served=served,
            placebo=placebo,
            selection=selection,
            members=fitted_members,
            forced=len(candidates) == 1,
        )
        info = {
            "cache_batch_rows": self.batch_rows,
            "selection_sample_rows": len(sample.y),
            "seconds": timings,
        }
        return learned, info

    @staticmethod
    def _fit_form(
        cache: RowCache, codes: list[str], arms: list[Any], kind: Any, ext: ExtSettings, counts: list[int]
    ) -> ServedModel:
        baseline = fit_t_extmem(cache, arms, kind, ext)
        fitted: list[Any] = [
            baseline
            if c == "t"
            else fit_dr_extmem(cache, arms, kind, ext, propensity=None, arm_counts=counts)
            for c in codes
        ]
        return ServedModel(baseline=baseline, members=fitted, codes=codes)


def open_external(spec: FileSpec) -> ExternalRun:
    """The columns chosen by ``from_file``'s rules, from the Parquet footer (no row is read)."""
    rows = parquet_rows(spec.path)
    if rows is None:
        raise DataError("--data", f"--external-memory streams a Parquet file; {spec.path} is not one")
    available = [f.name for f in pq.read_schema(spec.path)]
    features = feature_columns(spec, available)
    wanted = [spec.treatment, spec.outcome, *([spec.id_column] if spec.id_column else []), *features]
    truth = [c for c in available if syn.is_truth_column(c) and c not in wanted and c != "response_type"]
    description = {
        "format": "parquet (external memory)",
        "excluded": sorted(set(available) - set(wanted) - set(truth)),
        "truth_columns": truth,
        "unseen_category_rule": UNSEEN_CATEGORY_RULE,
    }
    return ExternalRun(
        spec=spec, features=features, wanted=wanted + truth, description=description, rows=rows
    )
