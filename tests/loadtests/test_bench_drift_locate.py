"""The drift-locating benchmark: its markets are what its cases say, and a run reports every case."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.loadtests.scripts import import_script

bench = import_script("bench_drift_locate")


def test_each_case_changes_what_it_says() -> None:
    def group_rates(case: str) -> dict[str, float]:
        X, t, y, _, from_log, supported = bench.market(case, seed=0)
        log = from_log & (X[:, 0] > 0.5) & (X[:, 1] < 40)
        return {
            "treated": float(y[log & (t == 1)].mean()),
            "control": float(y[log & (t == 0)].mean()),
            "unsupported": float(1 - supported[log].mean()),
        }

    unchanged, baseline, changed = group_rates("unchanged"), group_rates("baseline"), group_rates("changed")
    # Unchanged: +0.1 on 0.3. Baseline: both arms 0.2 higher. Changed: the treatment now costs 0.2.
    assert abs(unchanged["treated"] - unchanged["control"] - 0.1) < 0.05
    assert abs(baseline["control"] - unchanged["control"] - 0.2) < 0.05
    assert abs(baseline["treated"] - baseline["control"] - 0.1) < 0.05
    assert abs(changed["treated"] - changed["control"] + 0.2) < 0.05
    assert unchanged["unsupported"] == 0 and group_rates("changed, near-greedy")["unsupported"] == 1.0


def test_a_run_reports_every_case(tmp_path: Path) -> None:
    out = tmp_path / "locate.json"
    run = subprocess.run(
        [sys.executable, "loadtests/bench_drift_locate.py", "--seeds", "1", "--out", str(out)],
        check=False, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert list(report["cases"]) == list(bench.CASES)
    for figures in report["cases"].values():
        assert figures["seeds"] == 1 and figures["located"] in (0, 1)
        assert len(figures["located_rules"]) == figures["located"]
    assert "changed, near-greedy" in run.stdout


def test_seeds_below_one_exit_2_naming_the_option() -> None:
    run = subprocess.run(
        [sys.executable, "loadtests/bench_drift_locate.py", "--seeds", "0"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "--seeds" in run.stderr


def test_the_group_is_a_quarter_of_the_log() -> None:
    X, *_, from_log, _ = bench.market("unchanged", seed=1)
    share = np.mean((X[from_log, 0] > 0.5) & (X[from_log, 1] < 40))
    assert abs(share - 0.25) < 0.03
