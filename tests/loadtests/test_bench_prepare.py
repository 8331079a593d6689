"""The prepare benchmark still runs end to end on a small log and writes every figure it reports.

No timing is asserted (figures belong to the benchmark); what is checked is that the run finished,
prepared one row per exposed user, and wrote the figures and targets.
"""

import json
import subprocess
import sys

import pandas as pd


def test_bench_prepare_runs_and_writes_every_figure(tmp_path):
    out = tmp_path / "prepare.json"
    argv = [sys.executable, "loadtests/bench_prepare.py", "--events", "300000", "--users", "200000"]
    run = subprocess.run([*argv, "--out", str(out)], check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    (main,) = report["runs"]
    assert main["events"] == 300_000 and main["users"] == 200_000
    assert 0.8 * 200_000 < main["table_rows"] < 200_000  # the exposed users (a tenth are never exposed)
    assert {"wall_s", "peak_rss_mb", "events_per_s", "cpu_s"} <= set(main)
    assert set(report["checks"]) == {"seconds_10m", "peak_rss_gb_10m"}
    assert report["targets"]["seconds_10m"] == 60.0 and report["seed"] == 7


def test_chunks_never_share_a_user(tmp_path):
    sys.path.insert(0, "loadtests")
    try:
        from bench_prepare import write_clickstream
    finally:
        sys.path.remove("loadtests")
    events, exposures, written = write_clickstream(tmp_path, 50_000, 200_000, seed=3)
    ex = pd.read_parquet(exposures)
    assert ex["user_id"].is_unique and len(ex) > 150_000
    assert written == 50_000 == len(pd.read_parquet(events, columns=["user_id"]))
