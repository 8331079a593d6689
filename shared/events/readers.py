"""Reading events and exposures: column checks, timestamps to epoch milliseconds, event names to codes.

Every rule broken by a file raises :class:`EventsError` naming the file, the column and the rule.
Events are read in record batches (pyarrow's streaming CSV reader or Parquet row groups) so the
caller's memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from shared.events.schema import (
    EVENT,
    EVENTS,
    EXPOSED_AT,
    EXPOSURE_COLUMNS,
    ITEM,
    TIMESTAMP,
    USER,
    VARIANT,
    EventLayout,
    EventsError,
)

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")
_PARQUET_SUFFIXES = (".parquet", ".pq")
# ~32 MiB of CSV text per block: large enough to amortize parsing, small enough to keep memory flat.
_CSV_BLOCK_BYTES = 32 << 20


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise EventsError(path.name, "-", "unknown file type; use .csv (optionally .gz/.bz2/.zst) or .parquet")


def _schema(path: Path) -> pa.Schema:
    if not path.is_file():
        raise EventsError(str(path), "-", "file does not exist")
    if _kind(path) == "parquet":
        return pq.read_schema(path)
    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 20)) as reader:
        return reader.schema


def _require(path: Path, have: list[str], needed: list[str]) -> None:
    for column in needed:
        if column not in have:
            raise EventsError(path.name, column, f"is missing; the file has {', '.join(have)}")


def estimate_rows(path: Path) -> int:
    """Exact for Parquet; for CSV from the file size and the first block's bytes per row."""
    if _kind(path) == "parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    size = path.stat().st_size
    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 20)) as reader:
        first = reader.read_next_batch()
    per_row = (1 << 20) / max(first.num_rows, 1)
    compressed = path.name.lower().endswith((".gz", ".bz2", ".zst"))
    return int(size * (5 if compressed else 1) / per_row) + first.num_rows


def to_epoch_ms(values: pa.Array | pa.ChunkedArray, file: str, column: str) -> np.ndarray:
    """ISO-8601 text (naive means UTC), epoch milliseconds (integers) or a timestamp type → int64 ms."""
    if values.null_count:
        raise EventsError(file, column, f"{values.null_count} missing timestamp(s); every row needs one")
    kind = values.type
    if pa.types.is_integer(kind):
        return np.asarray(values.cast(pa.int64()))
    if pa.types.is_floating(kind):
        arr = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise EventsError(file, column, "numeric timestamps must be whole epoch milliseconds")
        return arr.astype(np.int64)
    if pa.types.is_date(kind):
        values, kind = values.cast(pa.timestamp("ms")), pa.timestamp("ms")
    if pa.types.is_timestamp(kind):
        # Raw int64 in the column's own unit, floored to milliseconds (a cast would refuse sub-ms values).
        raw = np.asarray(values.cast(pa.int64()))
        per_ms = {"s": None, "ms": 1, "us": 1_000, "ns": 1_000_000}[kind.unit]
        return raw * 1_000 if per_ms is None else raw // per_ms
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if pc.all(pc.match_substring_regex(values, r"^\s*-?\d+\s*$")).as_py():
            return np.asarray(pc.cast(pc.utf8_trim_whitespace(values), pa.int64()))
        text = pd.Series(np.asarray(values, dtype=object))
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise EventsError(
                file, column, f"{text[bad].iloc[0]!r} is neither ISO-8601 nor epoch milliseconds"
            )
        return parsed.to_numpy(dtype="datetime64[ms]").view(np.int64)
    raise EventsError(file, column, f"type {kind} is not a timestamp; use ISO-8601 text or epoch ms")


@dataclass(frozen=True)
class Exposures:
    """One row per exposed user, in file order; ``keys`` is the lookup set for event user ids."""

    users: pa.Array
    variants: np.ndarray
    exposed_ms: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


def read_exposures(path: Path) -> Exposures:
    _require(path, _schema(path).names, list(EXPOSURE_COLUMNS))
    if _kind(path) == "parquet":
        table = pq.read_table(path, columns=list(EXPOSURE_COLUMNS))
    else:
        convert = pcsv.ConvertOptions(include_columns=list(EXPOSURE_COLUMNS), strings_can_be_null=True)
        table = pcsv.read_csv(path, convert_options=convert)
    users = table.column(USER).combine_chunks()
    if users.null_count:
        raise EventsError(path.name, USER, f"{users.null_count} missing user id(s)")
    counts = pc.value_counts(users)
    repeated = pc.filter(counts, pc.greater(counts.field("counts"), 1))
    if len(repeated):
        first = repeated[0].as_py()
        raise EventsError(
            path.name,
            USER,
            f"user {first['values']!r} appears {first['counts']} times; one row per user (the first exposure)",
        )
    variants = table.column(VARIANT)
    if variants.null_count:
        raise EventsError(path.name, VARIANT, f"{variants.null_count} missing variant(s)")
    exposed = to_epoch_ms(table.column(EXPOSED_AT), path.name, EXPOSED_AT)
    return Exposures(users, np.asarray(variants.cast(pa.string()), dtype=object), exposed)


def user_keys(exposures: Exposures, event_user_type: pa.DataType) -> pa.Array:
    """Exposure user ids in the type event ids are matched in: int64 when both are integers, else text."""
    if pa.types.is_integer(event_user_type) and pa.types.is_integer(exposures.users.type):
        return exposures.users.cast(pa.int64())
    return exposures.users.cast(pa.string())


@dataclass(frozen=True)
class EventSource:
    path: Path
    layout: EventLayout

    def source_columns(self) -> dict[str, str]:
        """Canonical → source column of every column read (revenue only when the file has it)."""
        cols = {c: self.layout.columns[c] for c in (TIMESTAMP, USER, EVENT, ITEM)}
        have = _schema(self.path).names
        _require(self.path, have, list(cols.values()))
        if self.layout.revenue is not None and self.layout.revenue in have:
            cols["revenue"] = self.layout.revenue
        return cols

    def user_type(self) -> pa.DataType:
        return _schema(self.path).field(self.layout.columns[USER]).type

    def _timestamp_type(self, column: str) -> dict[str, pa.DataType]:
        """CSV types are inferred from the first block: a column inferred as whole-second timestamps
        would refuse a later ``.123`` value, so timestamps are read in nanoseconds (same zone rule)."""
        kind = _schema(self.path).field(column).type
        return {column: pa.timestamp("ns", tz=kind.tz)} if pa.types.is_timestamp(kind) else {}

    def batches(self, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Record batches with canonical column names (timestamp, user_id, event, item_id[, revenue])."""
        cols = self.source_columns()
        names = list(cols.values())
        try:
            if _kind(self.path) == "parquet":
                # pre_buffer caches every prefetched range until the file closes; a plain stream stays flat.
                parquet = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
                source: Iterator[pa.RecordBatch] = parquet.iter_batches(batch_size=batch_rows, columns=names)
            else:
                types = {cols[EVENT]: pa.string(), **self._timestamp_type(cols[TIMESTAMP])}
                if "revenue" in cols:
                    types[cols["revenue"]] = pa.float64()
                source = pcsv.open_csv(
                    self.path,
                    read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
                    convert_options=pcsv.ConvertOptions(
                        include_columns=names, column_types=types, strings_can_be_null=True
                    ),
                )
            for batch in source:
                yield batch.select(names).rename_columns(list(cols))
        except pa.ArrowInvalid as exc:
            raise EventsError(self.path.name, _column_in(str(exc), names), str(exc).splitlines()[0]) from exc


def _column_in(message: str, names: list[str]) -> str:
    return next((n for n in names if f"'{n}'" in message or f"column #{names.index(n)}" in message), "-")


def event_codes(values: pa.Array, layout: EventLayout, file: str, column: str) -> np.ndarray:
    """Source event names → int8 funnel codes; a name neither canonical nor mapped is refused."""
    if values.null_count:
        raise EventsError(file, column, f"{values.null_count} missing event name(s)")
    encoded = pc.dictionary_encode(values.cast(pa.string()))
    known = layout.code_of()
    names = encoded.dictionary.to_pylist()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise EventsError(
            file,
            column,
            f"unknown event name {unknown[0]!r}; known: {', '.join(sorted(known))} "
            f"(map others with --event-map NAME={'|'.join(EVENTS)})",
        )
    lookup = np.array([known[n] for n in names], dtype=np.int8)
    return lookup[np.asarray(encoded.indices)]


def item_hashes(values: pa.Array) -> np.ndarray:
    """A 64-bit key per item (equal ids, equal keys), hashing each distinct id of the batch once."""
    if values.null_count:
        values = values.fill_null(pa.scalar("", pa.string()) if pa.types.is_string(values.type) else 0)
    encoded = pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    if pa.types.is_integer(dictionary.type):
        keys = np.asarray(dictionary.cast(pa.int64())).view(np.uint64)
    else:
        keys = pd.util.hash_array(np.asarray(dictionary.cast(pa.string()), dtype=object))
    return keys[np.asarray(encoded.indices)]
