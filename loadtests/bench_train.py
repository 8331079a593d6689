"""Training benchmark: `uplift train --rows N --seed S` as a child process; wall time, peak memory
and the held-out quality figures, checked against the targets, printed and written as JSON.

    uv run python loadtests/bench_train.py --rows 1000000 --seed 7
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.artifacts import current_version

TARGETS = {
    # Issue 13: the default run now cross-fits and chooses among six learners.
    "wall_s": 120.0,
    "peak_rss_gb": 4.0,
    "qini_vs_oracle": 0.9,
    "pearson_cate_truth": 0.9,
    "sd_recall": 0.8,
}


def run(rows: int, seed: int, out: Path) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "services.cli",
        "train",
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    # ru_maxrss of children is in KiB on Linux: the largest resident set any child reached.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kib = usage.ru_maxrss
    version = current_version(out)
    evaluation = json.loads((out / version / "evaluation.json").read_text())
    arm = next(iter(evaluation["arms"].values()))
    seg = evaluation["segments"]
    return {
        "rows": rows,
        "seed": seed,
        "command": " ".join(["uv run uplift", *cmd[3:]]),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "wall_s": round(wall, 2),
        "peak_rss_gb": round(peak_kib / 1024**2, 3),
        # CPU seconds of the child: on a shared machine wall time also counts other processes' load.
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "load_average_1m": round(__import__("os").getloadavg()[0], 2),
        "learner": evaluation.get("learner", {}).get("chosen"),
        "selection_s": evaluation.get("learner", {}).get("wall_seconds"),
        # Per step of the pipeline (writing artifacts excluded): wall and the trainer's own CPU seconds.
        "step_seconds": evaluation.get("step_seconds"),
        "qini": arm["qini"],
        "qini_oracle": arm.get("qini_oracle"),
        "qini_vs_oracle": arm.get("qini_vs_oracle"),
        "qini_placebo": arm["qini_placebo"],
        "pearson_cate_truth": arm.get("pearson_cate_truth"),
        "sd_recall": seg.get("vs_truth", {}).get("recall", {}).get("Sleeping Dog"),
        "persuadable_precision": seg.get("vs_truth", {}).get("precision", {}).get("Persuadable"),
        "thresholds": [seg["lower"], seg["upper"]],
        "ndcg10_ranker": evaluation.get("ranker", {}).get("ndcg10_model"),
        "ndcg10_popularity": evaluation.get("ranker", {}).get("ndcg10_popularity"),
    }


def check(result: dict[str, Any]) -> dict[str, bool]:
    met = {
        "wall_s": result["wall_s"] <= TARGETS["wall_s"],
        "peak_rss_gb": result["peak_rss_gb"] <= TARGETS["peak_rss_gb"],
    }
    for key in ("qini_vs_oracle", "pearson_cate_truth", "sd_recall"):
        if result[key] is not None:
            met[key] = result[key] >= TARGETS[key]
    if result["ndcg10_ranker"] is not None:
        met["ranker_beats_popularity"] = result["ndcg10_ranker"] > result["ndcg10_popularity"]
    return met


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=Path("loadtests/results/train.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.rows, args.seed, Path(tmp) / "models")
    result["targets"] = TARGETS
    result["met"] = check(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for key, value in result.items():
        if key not in ("targets", "met", "machine"):
            print(f"{key:<{width}}  {value}")
    print("targets met:", result["met"])
    return 0 if all(result["met"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
