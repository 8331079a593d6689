"""Are the IDs of a stream of batches unique? Answered with memory that does not grow with the rows.

Holding every ID in a hash set (``nunique``) costs ~70 bytes per string ID, ~0.7 GB at 10M rows. Instead
each batch's IDs are hashed to 64 bits (pandas' seeded SipHash, so the answer is deterministic) and the
hashes are spilled to BUCKETS files by their top bits; each bucket is then read alone, sorted, and its
repeated hashes found. A repeated hash is either a duplicated ID or a collision (about n^2 / 2^65: 3e-6 at
10M rows), so when any are found a second pass over the IDs keeps only those whose hash repeats and
counts the true duplicates among them. Memory: one batch plus one bucket (8 bytes x rows / BUCKETS),
plus, only when duplicates exist, the rows that share a hash (the input being rejected).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.util import hash_array

BUCKETS = 256
_SHIFT = np.uint64(64 - 8)  # the top 8 bits pick one of 256 buckets


def _hashes(ids: pd.Series) -> np.ndarray:
    values = ids.to_numpy()
    if values.dtype.kind not in "iufb":
        # Strings and mixed objects hash by their text: "7" read as str and as object hash alike.
        values = values.astype(str).astype(object)
    return hash_array(values, categorize=False)


def count_duplicates(
    batches: Callable[[], Iterator[pd.Series]], *, buckets: int = BUCKETS
) -> tuple[int, object]:
    """Rows whose ID repeats an earlier row's over every batch ``batches()`` yields (called once, or twice
    when some hash repeats), and one repeated ID (None if there is none)."""
    if buckets != BUCKETS:
        raise ValueError(f"buckets: only {BUCKETS} are supported, got {buckets}")
    with tempfile.TemporaryDirectory(prefix="uplift-ids-") as tmp:
        paths = [Path(tmp) / f"{b:03d}.u64" for b in range(BUCKETS)]
        files = [open(p, "wb") for p in paths]  # noqa: SIM115 - closed together below
        missing = 0
        try:
            for ids in batches():
                missing += int(ids.isna().sum())
                h = _hashes(ids.dropna())
                order = np.argsort(h >> _SHIFT, kind="stable")
                h = h[order]
                cuts = np.searchsorted(h >> _SHIFT, np.arange(BUCKETS + 1, dtype=np.uint64))
                for b in np.flatnonzero(np.diff(cuts)):
                    files[b].write(h[cuts[b] : cuts[b + 1]].tobytes())
        finally:
            for f in files:
                f.close()
        repeated = _repeated_hashes(paths)
    # Missing IDs are not units at all: each beyond the first counts as a duplicate, as nunique would.
    extra_missing = max(0, missing - 1)
    example: object = np.nan if extra_missing else None
    if repeated.size == 0:
        return extra_missing, example
    n, first = _exact_duplicates(batches(), repeated)
    return extra_missing + n, first if n else example


def _repeated_hashes(paths: Iterable[Path]) -> np.ndarray:
    found: list[np.ndarray] = []
    for path in paths:
        h = np.sort(np.fromfile(path, dtype=np.uint64))
        same = h[1:] == h[:-1]
        if same.any():
            found.append(np.unique(h[1:][same]))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)


def _exact_duplicates(batches: Iterator[pd.Series], repeated: np.ndarray) -> tuple[int, object]:
    suspects = [ids[np.isin(_hashes(ids), repeated)] for ids in (b.dropna() for b in batches)]
    values = pd.concat(suspects, ignore_index=True)
    keys = values.astype(str) if values.dtype.kind not in "iufb" else values
    dup = keys.duplicated()
    return int(dup.sum()), (values[dup].iloc[0] if dup.any() else None)
