"""bench_scale's own parts: the market for n rows is the first n rows of every larger one (so every size
is the same market), partial runs merge into one JSON, and the in-memory slope is a least-squares fit.
No timing is asserted (figures belong to the benchmark)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from tests.loadtests.scripts import import_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return import_script("bench_scale")


def test_a_smaller_market_is_the_head_of_a_larger_one(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "CHUNK_ROWS", 4000)
    bench.write_market(tmp_path / "small.parquet", 6000, seed=3)
    bench.write_market(tmp_path / "large.parquet", 11000, seed=3)
    small, large = pd.read_parquet(tmp_path / "small.parquet"), pd.read_parquet(tmp_path / "large.parquet")
    assert len(small) == 6000 and len(large) == 11000
    pd.testing.assert_frame_equal(small, large.head(6000))
    assert large["user_id"].is_unique  # chunk prefixes keep IDs apart across chunks


def _run(mb: float, qini: float, ratio: float, common: float | None = None) -> dict[str, object]:
    run: dict[str, object] = {"peak_rss_mb": mb, "qini": qini, "qini_vs_oracle": ratio}
    if common is not None:
        run["common_eval"] = {"qini": common, "replicates": [common - 0.001, common, common + 0.002]}
    return run


def test_partial_runs_merge_and_decide_the_targets(bench: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "scale.json"
    bench._save(
        path, "memory", {"command": "a"}, {"in_memory": {"1000000": _run(1200.0, 0.0140, 0.98, 0.0142)}}
    )
    bench._save(path, "memory", {"command": "a"}, {"in_memory": {"2000000": _run(2300.0, 0.0139, 0.99)}})
    # The external run's own held-out Qini is higher, but on the common set it is lower: the common set decides.
    ext = _run(1700.0, 0.0141, 0.97, 0.0141)
    bench._save(path, "external", {"command": "b"}, {"external": {"rows": 10**7, **ext}})
    result = json.loads(path.read_text())
    assert set(result["in_memory"]) == {"1000000", "2000000"}
    assert set(result["runs"]) == {"memory", "external"}
    assert result["in_memory_mb_per_million_rows"] == pytest.approx(1100.0)
    assert result["targets"] == {
        "external_peak_rss_le_3gb": True,
        "external_qini_ge_smallest_in_memory_on_common_set": False,
    }


def test_paired_difference_uses_the_shared_resamples(bench: ModuleType) -> None:
    a = {"qini": 0.015, "replicates": [0.014, 0.015, 0.017]}
    b = {"qini": 0.014, "replicates": [0.013, 0.014, 0.016]}  # every resample moves both alike
    diff, sd = bench.paired_difference(a, b)
    assert diff == pytest.approx(0.001)
    assert sd == pytest.approx(0.0)
    c = {"qini": 0.014, "replicates": [0.016, 0.014, 0.013]}
    assert bench.paired_difference(a, c)[1] == pytest.approx(np.std([-0.002, 0.001, 0.004], ddof=1))


def test_slope_is_least_squares(bench: ModuleType) -> None:
    runs = {1_000_000: _run(1000.0, 0, 0), 2_000_000: _run(2100.0, 0, 0), 4_000_000: _run(4000.0, 0, 0)}
    expected = np.polyfit([1.0, 2.0, 4.0], [1000.0, 2100.0, 4000.0], 1)[0]  # MB per million rows
    assert bench._slope(runs) == pytest.approx(expected, abs=0.05)
    assert bench._slope({1: _run(1.0, 0, 0)}) is None
    # A size the trainer took out of core is not an in-memory point.
    out_of_core = {**_run(1300.0, 0, 0), "training": {"where": "external memory"}}
    assert bench._slope({**runs, 8_000_000: out_of_core}) == pytest.approx(expected, abs=0.05)
