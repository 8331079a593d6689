"""The pacing benchmark runs end to end on a small stream and writes every figure it reports.

No timing is asserted; what is checked is the report's shape and the two rules it exists to show:
spend never above the budget, and (with more demand than budget) at least 90% of it spent by the end.
"""

import json
import subprocess
import sys


def test_bench_pacing_runs_and_writes_every_figure(tmp_path):
    out = tmp_path / "pacing.json"
    argv = [
        sys.executable,
        "loadtests/bench_pacing.py",
        "--users",
        "400",
        "--budget",
        "25",
        "--concurrency",
        "2",
    ]
    run = subprocess.run([*argv, "--out", str(out)], check=False, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert [f["fifth"] for f in report["fifths"]] == [1, 2, 3, 4, 5]
    assert report["fifths"][-1]["users"] == 400 and report["treated"] <= 25
    assert report["committed_share_max"] <= 1.0 and report["spent_share_at_end"] >= 0.9
    assert report["checks"] == {"spent_share_at_end_min": True, "committed_share_max": True}
    assert "end: spent" in run.stdout
