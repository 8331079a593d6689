"""The streamed ID check counts what pandas' ``duplicated`` counts, whatever the batching, and a hash
collision is never reported as a duplicate."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.trainer import unique_ids
from services.trainer.unique_ids import count_duplicates


def batches_of(values: pd.Series, size: int) -> Callable[[], Iterator[pd.Series]]:
    def gen() -> Iterator[pd.Series]:
        for start in range(0, len(values), size):
            yield values.iloc[start : start + size]

    return gen


@pytest.mark.parametrize("kind", ["str", "int"])
@pytest.mark.parametrize("size", [1000, 7, 100_000])
def test_counts_match_pandas_duplicated(kind: str, size: int) -> None:
    rng = np.random.default_rng(3)
    base = rng.choice(10**9, size=20_000, replace=False)
    # 37 rows repeat earlier IDs (some three times), scattered through the batches.
    ids = np.concatenate([base, base[rng.integers(0, 20_000, 37)]])
    rng.shuffle(ids)
    values = pd.Series(ids.astype(str) if kind == "str" else ids, dtype=object if kind == "str" else "int64")
    expected = int(values.duplicated().sum())
    n, example = count_duplicates(batches_of(values, size))
    assert n == expected > 0
    assert example in set(values[values.duplicated(keep=False)])


def test_unique_ids_report_zero_and_no_example() -> None:
    values = pd.Series([f"c{k}-{i}" for k in range(3) for i in range(5000)])
    assert count_duplicates(batches_of(values, 999)) == (0, None)


def test_missing_ids_count_as_pandas_counts_them() -> None:
    values = pd.Series(["a", None, "b", None, None, "a"], dtype=object)
    n, _ = count_duplicates(batches_of(values, 2))
    assert n == int(values.duplicated().sum()) == 3


def test_a_hash_collision_is_not_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 3-bit hash (kept in the top bits, which pick the bucket) makes most distinct IDs collide.
    real = unique_ids._hashes

    def coarse(ids: pd.Series) -> np.ndarray:
        return (real(ids) >> np.uint64(61)) << np.uint64(61)

    monkeypatch.setattr(unique_ids, "_hashes", coarse)
    values = pd.Series([str(i) for i in range(5000)] + ["17", "4999"])
    assert count_duplicates(batches_of(values, 333))[0] == 2
    assert count_duplicates(batches_of(values.iloc[:5000], 333)) == (0, None)


def test_temporary_files_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    count_duplicates(batches_of(pd.Series(["x", "y", "x"]), 2))
    assert list(tmp_path.iterdir()) == []
