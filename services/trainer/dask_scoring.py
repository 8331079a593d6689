"""`uplift score --dask-scheduler`: every row group of a Parquet dataset scored on a worker, one file each.

A task reads one row group with the model's types, scores it with the same ``predict_batch`` as
``uplift score`` and writes ``part-<file>-<row group>.parquet``: the parts sorted by name are the input
rows in input order (files sorted by name, then row groups, then rows), and the ID column is copied
when the model has one. Workers load the model version the client resolved (the bundle holds thread
locks and is not sent over the wire), so the models folder and the output folder must be visible to
every worker at the same path (a shared volume, as in the compose `dask` profile). The parts are
written to a hidden folder beside ``--out`` and renamed into place only when every task succeeded.
"""

from __future__ import annotations

import glob
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from services.trainer.ingest import _cast
from services.trainer.scoring import CHOSEN_ARM, ScoreSummary, _arrow_type, output_schema, predict_batch
from services.trainer.validate import DataError
from shared.artifacts import resolve_current
from shared.bundle import ModelBundle

if TYPE_CHECKING:
    from distributed import Client


def parquet_files(data: str) -> list[str]:
    """A Parquet file, the .parquet files of a folder, or a glob; sorted by name (the row order)."""
    path = Path(data)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet"))
    elif any(c in data for c in "*?["):
        files = sorted(glob.glob(data, recursive=True))
    else:
        files = [data] if path.exists() else []
    if not files:
        raise DataError(
            "--data", f"no Parquet file found at {data} (a .parquet file, a folder of them or a glob)"
        )
    bad = [f for f in files if not f.lower().endswith((".parquet", ".pq"))]
    if bad:
        raise DataError("--data", f"with --dask-scheduler only Parquet is scored; {bad[0]} is not .parquet")
    return files


@lru_cache(maxsize=2)
def _bundle(version_dir: str) -> ModelBundle:
    # One load per worker process and version; one thread per task (the worker runs a task per core).
    bundle = ModelBundle.load_version(Path(version_dir), use_onnx=False)
    for booster in bundle.boosters:
        booster.set_param({"nthread": 1})
    return bundle


@dataclass
class PartResult:
    rows: int
    unseen: int
    chosen: list[int]


def score_row_group(
    version_dir: str, file: str, row_group: int, part: str, types: dict[str, pa.DataType], min_effect: float
) -> PartResult:
    bundle = _bundle(version_dir)
    id_column = bundle.manifest.data.id_column
    table = pq.ParquetFile(file).read_row_group(row_group, columns=list(types))
    batch = _cast(table.combine_chunks().to_batches()[0], types) if table.num_rows else None
    id_field = pa.field(id_column, types[id_column]) if id_column and id_column in types else None
    schema = output_schema(bundle, id_field)
    if batch is None:
        pq.write_table(schema.empty_table(), part)
        return PartResult(0, 0, [0] * len(bundle.arms))
    cols, unseen = predict_batch(bundle, batch, min_effect)
    if id_field is not None:
        cols = {id_field.name: batch.column(id_field.name), **cols}
    labels = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    pq.write_table(pa.table(cols, schema=schema), part, use_dictionary=labels)
    counts = np.bincount(cols[CHOSEN_ARM].indices.to_numpy(), minlength=len(bundle.arms))
    return PartResult(batch.num_rows, unseen, counts.tolist())


def _types(bundle: ModelBundle, file: str) -> dict[str, pa.DataType]:
    available = {f.name: f.type for f in pq.read_schema(file)}
    for name in bundle.schema.names:
        if name not in available:
            raise DataError(name, f"feature the model was trained on is missing from {Path(file).name}")
    types = {f.name: _arrow_type(f.kind, f.categories) for f in bundle.schema.features}
    id_column = bundle.manifest.data.id_column
    if id_column and id_column in available:
        types = {id_column: available[id_column], **types}
    return types


def score_dask(
    client: Client, models_dir: Path, data: str, out: Path, *, min_effect: float = 0.0
) -> tuple[ScoreSummary, str, int]:
    """Score every row group on the cluster; returns the summary, the model version and the number of parts."""
    version_dir, manifest = resolve_current(models_dir)
    bundle = _bundle(str(version_dir.resolve()))
    files = parquet_files(data)
    types = _types(bundle, files[0])
    tmp = out.with_name(f".{out.name}.partial-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    start = time.perf_counter()
    try:
        futures = []
        for i, file in enumerate(files):
            for g in range(pq.ParquetFile(file).num_row_groups):
                part = str((tmp / f"part-{i:05d}-{g:05d}.parquet").resolve())
                futures.append(
                    client.submit(
                        score_row_group,
                        str(version_dir.resolve()),
                        str(Path(file).resolve()),
                        g,
                        part,
                        types,
                        min_effect,
                        pure=False,
                    )
                )
        results: list[Any] = client.gather(futures)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    summary = ScoreSummary(chosen={a: 0 for a in bundle.arms})
    for r in results:
        summary.rows += r.rows
        summary.unseen_category_rows += r.unseen
        for arm, c in zip(bundle.arms, r.chosen, strict=True):
            summary.chosen[arm] += c
    if summary.rows == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError("--data", f"{data} has no rows to score")
    _replace_folder(tmp, out)
    summary.seconds = time.perf_counter() - start
    return summary, manifest.version, len(futures)


def _replace_folder(tmp: Path, out: Path) -> None:
    """Move the finished parts into place; a previous output folder is removed only after the move."""
    old = None
    if out.exists():
        if not out.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataError(
                "--out", f"{out} is a file; with --dask-scheduler the output is a folder of parts"
            )
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
