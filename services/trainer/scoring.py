"""`uplift score`: CATE per arm, segment and chosen arm for every row of a file, in bounded batches.

Each batch is read, encoded with the model's fixed schema, scored and appended to the output, so
peak memory depends on the batch size, not on the file. The output is written to a hidden
temporary file beside the target and renamed into place only when every row is scored.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from services.trainer import ingest
from services.trainer.validate import DataError
from shared.bundle import ModelBundle
from shared.segments import SEGMENTS

CHOSEN_ARM = "chosen_arm"
SEGMENT = "segment"


def cate_column(arm: str) -> str:
    return f"cate_{arm}"


@dataclass
class ScoreSummary:
    rows: int = 0
    seconds: float = 0.0
    unseen_category_rows: int = 0
    chosen: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def read_types(bundle: ModelBundle, path: Path) -> dict[str, pa.DataType]:
    """Arrow types to read the input with: the model's schema fixes them, not the file's first block."""
    available = ingest.column_types(path)
    for name in bundle.schema.names:
        if name not in available:
            raise DataError(name, f"feature the model was trained on is missing from {path.name}")
    types = {f.name: _arrow_type(f.kind, f.categories) for f in bundle.schema.features}
    id_column = bundle.manifest.data.id_column
    if id_column and id_column in available:
        types = {id_column: available[id_column], **types}
    return types


def _arrow_type(kind: str, categories: tuple[str, ...] | None) -> pa.DataType:
    if kind == "numeric":
        return pa.float64()
    # Training recorded a boolean column's categories as "False"/"True": read it as bool to match.
    return pa.bool_() if categories and set(categories) <= {"False", "True"} else pa.string()


def predict_batch(
    bundle: ModelBundle, batch: pa.RecordBatch | pa.Table, min_effect: float
) -> tuple[dict[str, Any], int]:
    """Output columns for one batch and the number of its rows with an unseen category."""
    X, unseen = bundle.schema.encode_arrow(batch)
    mu = bundle.predict_outcomes(X)
    effects = mu[:, 1:] - mu[:, :1]
    return _columns(bundle, effects, min_effect), unseen


def _columns(bundle: ModelBundle, effects: np.ndarray, min_effect: float) -> dict[str, Any]:
    best = np.argmax(effects, axis=1)
    best_effect = effects[np.arange(len(effects)), best]
    # Greedy rule without costs: the best treatment arm if its effect clears ``min_effect``, else control.
    chosen = np.where(best_effect > min_effect, best + 1, 0).astype(np.int8)
    out: dict[str, Any] = {cate_column(a): effects[:, k] for k, a in enumerate(bundle.arms[1:])}
    # Dictionary-encoded labels: a few bytes per row, no Python string per row.
    out[SEGMENT] = pa.DictionaryArray.from_arrays(bundle.segment_codes(effects), pa.array(SEGMENTS))
    out[CHOSEN_ARM] = pa.DictionaryArray.from_arrays(chosen, pa.array(bundle.arms))
    return out


@contextmanager
def _writer(out: Path, schema: pa.Schema) -> Iterator[Callable[[pa.Table], None]]:
    tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    writer: Any
    if ingest.file_format(out) == "parquet":
        # Dictionary pages only for the label columns: trying them on unique floats and IDs costs
        # more than the scoring itself.
        labels = [f.name for f in schema if pa.types.is_dictionary(f.type)]
        writer = pq.ParquetWriter(tmp, schema, use_dictionary=labels)
        write = writer.write_table
    else:
        # CSV has no dictionary type: labels are written as plain text.
        plain = pa.schema([pa.field(f.name, _plain(f.type)) for f in schema])
        writer = pcsv.CSVWriter(tmp, plain)

        def write(table: pa.Table) -> None:
            writer.write_table(table.cast(plain))

    # One background thread compresses and writes batch k while batch k+1 is read and scored; at
    # most one table waits, so memory stays bounded.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-writer")
    pending: list[Future[None]] = []

    def write_behind(table: pa.Table) -> None:
        if pending:
            pending.pop().result()
        pending.append(pool.submit(write, table))

    try:
        yield write_behind
        if pending:
            pending.pop().result()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _plain(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def output_schema(bundle: ModelBundle, id_field: pa.Field | None) -> pa.Schema:
    fields = [pa.field(cate_column(a), pa.float64()) for a in bundle.arms[1:]]
    labels = pa.dictionary(pa.int8(), pa.string())
    fields += [pa.field(SEGMENT, labels), pa.field(CHOSEN_ARM, labels)]
    return pa.schema(([id_field] if id_field is not None else []) + fields)


def score_file(
    bundle: ModelBundle,
    data: Path,
    out: Path,
    *,
    batch_rows: int = 100_000,
    min_effect: float = 0.0,
) -> ScoreSummary:
    types = read_types(bundle, data)
    id_column = bundle.manifest.data.id_column
    id_field = pa.field(id_column, types[id_column]) if id_column and id_column in types else None
    schema = output_schema(bundle, id_field)
    summary = ScoreSummary(chosen={a: 0 for a in bundle.arms})
    start = time.perf_counter()
    with _writer(out, schema) as write:
        for batch in ingest.iter_batches(data, types, batch_rows):
            cols, unseen = predict_batch(bundle, batch, min_effect)
            if id_field is not None:
                cols = {id_field.name: batch.column(id_field.name), **cols}
            table = pa.table(cols, schema=schema)
            write(table)
            summary.rows += batch.num_rows
            summary.unseen_category_rows += unseen
            _count(summary.chosen, cols[CHOSEN_ARM], bundle.arms)
        if summary.rows == 0:
            raise DataError("--data", f"{data} has no rows to score")
    summary.seconds = time.perf_counter() - start
    return summary


def _count(chosen: dict[str, int], column: pa.DictionaryArray, arms: list[str]) -> None:
    counts = np.bincount(column.indices.to_numpy(), minlength=len(arms))
    for arm, c in zip(arms, counts.tolist(), strict=True):
        chosen[arm] += c


def load_for_batch(models_dir: Path, n_jobs: int) -> ModelBundle:
    """The current model with XGBoost serving on ``n_jobs`` threads (0 = all cores)."""
    bundle = ModelBundle.load_current(models_dir, use_onnx=False)
    for booster in bundle.boosters:
        booster.set_param({"nthread": n_jobs or os.cpu_count() or 1})
    return bundle
