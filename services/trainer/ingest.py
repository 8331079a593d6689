"""Reading an experiment log (CSV, optionally compressed, or Parquet) with pyarrow.

Empty CSV fields are missing values (also in text columns). Only the columns a run needs are read, in one pass, and handed to pandas without a second copy
(``self_destruct``). Scoring reads the same files batch by batch with the types fixed by the
model's schema, so its memory does not grow with the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from services.trainer.validate import DataError

FileFormat = Literal["csv", "parquet"]
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".tsv", ".txt")
# ~64 MiB of CSV text per block: large enough to amortize parsing, small enough to stay flat.
_CSV_BLOCK_BYTES = 64 << 20


def file_format(path: Path) -> FileFormat:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    raise DataError(
        "--data", f"unknown file type {path.name!r}; use .csv (optionally .gz/.bz2/.zst) or .parquet"
    )


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise DataError("--data", f"file {path} does not exist")


def _csv_parse(path: Path) -> pcsv.ParseOptions:
    return pcsv.ParseOptions(delimiter="\t" if path.name.lower().endswith(".tsv") else ",")


def column_types(path: Path) -> dict[str, pa.DataType]:
    """Column names and types as pyarrow sees them, read from the header (and first CSV block) only."""
    _check_exists(path)
    if file_format(path) == "parquet":
        schema = pq.read_schema(path)
    else:
        with pcsv.open_csv(path, parse_options=_csv_parse(path)) as reader:
            schema = reader.schema
    return {f.name: f.type for f in schema}


# What to do about a value that does not parse depends on who reads: training infers the column's
# type (so --categorical can change it); scoring reads with the model's types (and has no such option).
TRAIN_HINT = (
    "CSV types are inferred from the start of the file, so clean the column or name it with --categorical"
)
SCORE_HINT = (
    "the model reads this column with its training type: fix or blank the values that do not parse "
    "(a blank is scored as missing), or retrain with the column named in --categorical"
)


def _arrow_error(exc: pa.ArrowInvalid, path: Path, hint: str = TRAIN_HINT) -> DataError:
    """Name the column pyarrow refers to by position ("CSV column #2") in a one-line error."""
    message = str(exc).splitlines()[0]
    column = "--data"
    match = re.search(r"column #(\d+)", message)
    if match:
        names = list(column_types(path))
        column = names[int(match.group(1))] if int(match.group(1)) < len(names) else column
    return DataError(
        column,
        f"a value does not parse as the column's type ({message}); {hint}",
    )


def read_frame(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of the whole file as a pandas frame, read once."""
    _check_exists(path)
    try:
        if file_format(path) == "parquet":
            table = pq.read_table(path, columns=list(columns))
        else:
            table = pcsv.read_csv(
                path,
                parse_options=_csv_parse(path),
                convert_options=pcsv.ConvertOptions(include_columns=list(columns), strings_can_be_null=True),
            )
    except pa.ArrowInvalid as exc:
        raise _arrow_error(exc, path) from exc
    return table.to_pandas(split_blocks=True, self_destruct=True)


def iter_batches(path: Path, types: dict[str, pa.DataType], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of the columns in ``types`` (cast to those types), at most ``batch_rows`` each."""
    _check_exists(path)
    columns = list(types)
    try:
        if file_format(path) == "parquet":
            # pre_buffer caches every prefetched range until the file closes: memory would grow
            # with the file. A plain buffered stream keeps it flat.
            parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                yield _cast(batch, types)
            return
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            parse_options=_csv_parse(path),
            convert_options=pcsv.ConvertOptions(
                include_columns=columns, column_types=types, strings_can_be_null=True
            ),
        )
        with reader:
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
    except pa.ArrowInvalid as exc:
        raise _arrow_error(exc, path, SCORE_HINT) from exc


def _cast(batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> pa.RecordBatch:
    if all(batch.schema.field(n).type == t for n, t in types.items()):
        return batch
    try:
        return batch.cast(pa.schema([(n, types[n]) for n in batch.schema.names]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError("--data", f"a column cannot be read with the model's type ({exc})") from exc
