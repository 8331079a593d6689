"""The log's Parquet export: one schema for every backend, written in batches, replaced atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shared.assignment_log.rows import LogEntry

__all__ = ["EXPORT_SCHEMA", "write_parquet"]

_TS = pa.timestamp("us", tz="UTC")
EXPORT_SCHEMA = pa.schema(
    [
        pa.field("assignment_id", pa.string(), nullable=False),
        pa.field("assigned_at", _TS, nullable=False),
        pa.field("campaign_id", pa.string()),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("features_hash", pa.string(), nullable=False),
        pa.field("features_json", pa.string()),
        pa.field("arm", pa.string(), nullable=False),
        pa.field("propensity", pa.float64(), nullable=False),
        pa.field("segment", pa.string(), nullable=False),
        pa.field("policy", pa.string(), nullable=False),
        pa.field("reward", pa.float64()),
        pa.field("rewarded_at", _TS),
    ]
)
_BATCH = 50_000


def _batch(entries: list[LogEntry]) -> pa.RecordBatch:
    cols: dict[str, list] = {name: [] for name in EXPORT_SCHEMA.names}
    for e in entries:
        r = e.row
        for name in EXPORT_SCHEMA.names[:-2]:
            cols[name].append(getattr(r, name))
        cols["reward"].append(e.reward)
        cols["rewarded_at"].append(e.rewarded_at)
    return pa.RecordBatch.from_pydict(cols, schema=EXPORT_SCHEMA)


def write_parquet(entries: Iterable[LogEntry], path: str | Path) -> int:
    """Stream the entries into ``path`` via a temporary file beside it, so a reader never sees half a file."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    rows = 0
    try:
        with pq.ParquetWriter(tmp, EXPORT_SCHEMA) as writer:
            chunk: list[LogEntry] = []
            for entry in entries:
                chunk.append(entry)
                if len(chunk) >= _BATCH:
                    writer.write_batch(_batch(chunk))
                    rows += len(chunk)
                    chunk = []
            # An empty log still gets a file with the schema, so readers need no special case.
            writer.write_batch(_batch(chunk))
            rows += len(chunk)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return rows
