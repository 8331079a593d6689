"""Raw events + exposures → one row per exposed user (features before, outcomes after exposure).

Two streamed passes keep memory bounded by users, not by events:

1. Events are read in record batches. Each batch is checked (event names, timestamps), reduced to
   the exposed users' events inside ``[exposed_at - lookback, exposed_at + window]`` and appended,
   as fixed-width binary records, to one of K bucket files chosen by user (K grows with the file so
   a bucket stays near ``bucket_events``).
2. Each bucket holds every kept event of its users, so sessions, distinct items and funnel stitching
   are computed exactly per bucket (``features.user_features``), into per-user arrays.

Events may arrive in any order; exposed users without events get a row of zeros (recency: the lookback).
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shared.events.features import DAY_MS, MINUTE_MS, Windows, user_features
from shared.events.readers import (
    EventSource,
    Exposures,
    estimate_rows,
    event_codes,
    item_hashes,
    read_exposures,
    to_epoch_ms,
    user_keys,
)
from shared.events.schema import (
    EVENT,
    EXPOSURE_DAY,
    ITEM,
    OUTCOME_FLAGS,
    REVENUE,
    TIMESTAMP,
    USER,
    VARIANT,
    EventLayout,
    feature_names,
    outcome_names,
)

# One kept event on disk between the passes: user index, time, exposure time, code, item key, revenue.
RECORD = np.dtype([("u", "<i4"), ("t", "<i8"), ("x", "<i8"), ("e", "i1"), ("i", "<u8"), ("r", "<f8")])
METADATA_KEY = b"uplift.prepare"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PrepareOptions:
    window_days: float = 14.0
    lookback_days: int = 30
    session_gap_minutes: float = 30.0
    attribution_hours: float = 24.0
    batch_rows: int = 1_000_000
    bucket_events: int = 2_000_000

    def __post_init__(self) -> None:
        for name in ("window_days", "session_gap_minutes", "attribution_hours"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be finite and positive, got {value}")
        for name in ("lookback_days", "batch_rows", "bucket_events"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)}")

    def windows(self) -> Windows:
        return Windows(
            lookback_ms=self.lookback_days * DAY_MS,
            window_ms=round(self.window_days * DAY_MS),
            session_gap_ms=round(self.session_gap_minutes * MINUTE_MS),
            attribution_ms=round(self.attribution_hours * 60 * MINUTE_MS),
        )


@dataclass
class PrepareSummary:
    events_read: int = 0
    events_kept: int = 0
    users: int = 0
    users_without_events: int = 0  # no event in [exposed_at - lookback, exposed_at + window]
    buckets: int = 0
    seconds: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events_read / self.seconds if self.seconds > 0 else 0.0


def _partition(
    source: EventSource, exposures: Exposures, opts: PrepareOptions, folder: Path, progress: Progress
) -> tuple[list[Path], int, int]:
    """Pass 1: kept events into bucket files by user. Returns the files, events read and kept."""
    n_buckets = max(1, math.ceil(estimate_rows(source.path) / opts.bucket_events))
    paths = [folder / f"bucket-{k:04d}.bin" for k in range(n_buckets)]
    files = [p.open("wb") for p in paths]
    keys = user_keys(exposures, source.user_type())
    as_text = pa.types.is_string(keys.type)
    w = opts.windows()
    name, read, kept = source.path.name, 0, 0
    try:
        for batch in source.batches(opts.batch_rows):
            read += batch.num_rows
            codes = event_codes(batch.column(EVENT), source.layout, name, source.layout.columns[EVENT])
            t = to_epoch_ms(batch.column(TIMESTAMP), name, source.layout.columns[TIMESTAMP])
            ids = batch.column(USER)
            idx = pc.index_in(ids.cast(pa.string()) if as_text else ids.cast(pa.int64()), value_set=keys)
            u = np.asarray(idx.fill_null(-1), dtype=np.int32)
            x = exposures.exposed_ms[np.maximum(u, 0)]
            rel = t - x
            keep = np.flatnonzero((u >= 0) & (rel >= -w.lookback_ms) & (rel <= w.window_ms))
            if len(keep) == 0:
                continue
            rec = np.empty(len(keep), dtype=RECORD)
            rec["u"], rec["t"], rec["x"], rec["e"] = u[keep], t[keep], x[keep], codes[keep]
            rec["i"] = item_hashes(batch.column(ITEM).take(pa.array(keep)))
            rec["r"] = _revenue(batch, keep)
            bucket = rec["u"] % n_buckets
            order = np.argsort(bucket, kind="stable")
            bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
            for k in range(n_buckets):
                if bounds[k + 1] > bounds[k]:
                    rec[order[bounds[k] : bounds[k + 1]]].tofile(files[k])
            kept += len(keep)
            progress(f"read {read:,} events, kept {kept:,}")
    finally:
        for f in files:
            f.close()
    return paths, read, kept


def _revenue(batch: pa.RecordBatch, keep: np.ndarray) -> np.ndarray:
    if REVENUE not in batch.schema.names:
        return np.zeros(len(keep))
    values = batch.column(REVENUE).take(pa.array(keep)).cast(pa.float64()).fill_null(0.0)
    return np.nan_to_num(np.asarray(values), nan=0.0)


def _fill(
    paths: list[Path], n_users: int, opts: PrepareOptions, progress: Progress
) -> tuple[dict[str, np.ndarray], int]:
    """Pass 2: per-user columns for every exposed user (users without events keep the defaults),
    and how many users had at least one event in the windows."""
    names = feature_names(opts.lookback_days) + outcome_names()
    cols = {n: np.zeros(n_users) for n in names}
    cols["days_since_last_event"][:] = opts.lookback_days
    w = opts.windows()
    seen = 0
    for k, path in enumerate(paths):
        rec = np.fromfile(path, dtype=RECORD)
        path.unlink()
        if len(rec) == 0:
            continue
        block = user_features(
            rec["u"], rec["t"], rec["x"], rec["e"], rec["i"], rec["r"], w, opts.lookback_days
        )
        del rec
        for name, values in block.columns.items():
            cols[name][block.users] = values
        seen += len(block.users)  # buckets partition users: no user is counted twice
        progress(f"features of bucket {k + 1}/{len(paths)}")
    return cols, seen


def _table(exposures: Exposures, cols: dict[str, np.ndarray], opts: PrepareOptions) -> pd.DataFrame:
    frame = pd.DataFrame({USER: exposures.users.to_pandas(), VARIANT: exposures.variants})
    day = pd.to_datetime(exposures.exposed_ms, unit="ms", utc=True).strftime("%Y-%m-%d")
    frame[EXPOSURE_DAY] = np.asarray(day, dtype=object)
    flags = set(OUTCOME_FLAGS)
    for name, values in cols.items():
        if name in flags:
            frame[name] = values.astype(np.int8)
        elif name.startswith(("mean_session", "spend", "days_since")) or name == REVENUE:
            frame[name] = values
        else:
            frame[name] = values.astype(np.int64)
    return frame


def prepare(
    events: Path,
    exposures_path: Path,
    out: Path,
    layout: EventLayout | None = None,
    options: PrepareOptions | None = None,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Write the prepared table to ``out`` (Parquet, with the options and column roles in its metadata)."""
    opts = options or PrepareOptions()
    report = progress or (lambda _step: None)
    started = time.perf_counter()
    exposures = read_exposures(exposures_path)
    report(f"read {len(exposures):,} exposures")
    source = EventSource(events, layout or EventLayout())
    source.source_columns()  # refuses a missing column before any work
    with tempfile.TemporaryDirectory(prefix="uplift-prepare-", dir=out.resolve().parent) as tmp:
        paths, read, kept = _partition(source, exposures, opts, Path(tmp), report)
        cols, seen = _fill(paths, len(exposures), opts, report)
    frame = _table(exposures, cols, opts)
    summary = PrepareSummary(
        events_read=read,
        events_kept=kept,
        users=len(exposures),
        users_without_events=len(exposures) - seen,
        buckets=len(paths),
        options=asdict(opts),
        features=feature_names(opts.lookback_days),
        outcomes=outcome_names(),
    )
    summary.seconds = time.perf_counter() - started
    meta = asdict(summary)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta)})
    pq.write_table(table, out)
    summary.seconds = time.perf_counter() - started
    report(f"wrote {len(frame):,} users to {out}")
    return summary
