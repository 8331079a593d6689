"""Batch-scoring benchmark: `uplift score` (streamed) against in-memory prediction of the same model.

Trains a model on the synthetic market (or uses --models), writes 1M users (and 10M with --ten-million)
to Parquet in chunks, then runs `uplift score` as child processes on the same rows and model:
  * streamed: --batch-rows 100000 (the default);
  * in memory: --batch-rows = the file's rows, i.e. the whole file read, scored and written at once;
each repeated (interleaved) and the best run kept, with the peak RSS (VmHWM) of each child.
`prediction_only` adds the pure encode + predict rate of a table already in memory, for context.
Targets: streamed rows/s >= 0.9x in-memory, and peak RSS flat (10M within 1.25x of 1M).

    uv run python loadtests/bench_score.py                  # 1M rows
    uv run python loadtests/bench_score.py --ten-million    # 1M and 10M rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

TARGETS = {"speed_vs_in_memory": 0.9, "rss_growth_10m_vs_1m": 1.25}
CHUNK = 1_000_000


def train_model(models: Path, rows: int, seed: int) -> None:
    cmd = [sys.executable, "-m", "services.cli", "train", "--rows", str(rows), "--seed", str(seed)]
    subprocess.run([*cmd, "--out", str(models)], check=True, stdout=subprocess.DEVNULL)


def write_users(path: Path, rows: int, seed: int) -> None:
    """Synthetic users in 1M-row chunks (different seeds), appended so the file never sits in memory."""
    from shared.synthetic import TRUTH_COLUMNS, MarketConfig, generate_market

    writer: pq.ParquetWriter | None = None
    try:
        for i in range(0, rows, CHUNK):
            n = min(CHUNK, rows - i)
            users = generate_market(MarketConfig(rows=n, seed=seed + i, impression_users=100)).users
            users = users.drop(columns=[*TRUTH_COLUMNS, "treatment", "conversion", "revenue"])
            users["user_id"] = "u" + (users.index + i).astype(str)
            table = pa.Table.from_pandas(users, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=100_000)
    finally:
        if writer is not None:
            writer.close()


def prediction_only(models: Path, data: Path, repeats: int) -> dict[str, Any]:
    """Context figure: encode + predict + segment of the whole file already in memory (no I/O)."""
    from services.trainer.scoring import load_for_batch

    bundle = load_for_batch(models, 0)
    table = pq.read_table(data, columns=bundle.schema.names)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        X, _ = bundle.schema.encode_arrow(table)
        mu = bundle.predict_outcomes(X)
        bundle.segment_codes(mu[:, 1:] - mu[:, :1])
        best = min(best, time.perf_counter() - start)
    return {"rows": table.num_rows, "seconds": round(best, 3), "rows_per_s": round(table.num_rows / best)}


def _vm_hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def wait_with_peak(pid: int) -> tuple[int, int]:
    """Exit status and peak RSS (KiB) of a child, from its own VmHWM.

    Not ru_maxrss: a forked child starts with its parent's resident pages counted, so its
    high-water mark would include this (larger) benchmark process.
    """
    peak = 0
    while True:
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            return status, peak
        peak = max(peak, _vm_hwm_kib(pid))
        time.sleep(0.02)


def score_run(models: Path, data: Path, out: Path, batch_rows: int) -> dict[str, Any]:
    """One `uplift score` child process: the rows/s it reports and its own peak RSS."""
    cmd = [sys.executable, "-m", "services.cli", "score", "--data", str(data), "--out", str(out)]
    cmd += ["--models", str(models), "--batch-rows", str(batch_rows)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    status, peak_kib = wait_with_peak(proc.pid)
    wall = time.perf_counter() - start
    stdout = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise RuntimeError(f"uplift score failed ({status}): {stdout}")
    rate = re.search(r"\(([\d,]+) rows/s\)", stdout)
    if rate is None:
        raise RuntimeError(f"uplift score printed no rate: {stdout}")
    return {
        "command": "uv run uplift " + " ".join(cmd[3:]),
        "rows_per_s": int(rate.group(1).replace(",", "")),
        "wall_s_incl_startup": round(wall, 2),
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "output_rows": pq.ParquetFile(out).metadata.num_rows,
    }


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fastest run (the machine is shared; the best run is the least disturbed), with the max RSS."""
    best = max(runs, key=lambda r: r["rows_per_s"])
    return {
        **best,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "all_rows_per_s": [r["rows_per_s"] for r in runs],
    }


def compare(models: Path, data: Path, rows: int, batch_rows: int, repeats: int) -> dict[str, Any]:
    """Streamed (``batch_rows``) and in-memory (the whole file as one batch) runs, interleaved."""
    out = data.with_suffix(".scores.parquet")
    streamed_runs, memory_runs = [], []
    for _ in range(repeats):
        streamed_runs.append(score_run(models, data, out, batch_rows))
        memory_runs.append(score_run(models, data, out, rows))
    streamed, memory = best_of(streamed_runs), best_of(memory_runs)
    return {
        "streamed": streamed,
        "in_memory": memory,
        "speed_vs_in_memory": round(streamed["rows_per_s"] / memory["rows_per_s"], 3),
        "prediction_only": prediction_only(models, data, repeats),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--models", type=Path, default=None, help="Use this models folder instead of training."
    )
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved runs per 1M configuration.")
    parser.add_argument("--ten-million", action="store_true", help="Also score a 10M-row file.")
    parser.add_argument("--json", type=Path, default=Path("loadtests/results/score.json"))
    args = parser.parse_args()
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seed": args.seed,
        "batch_rows": args.batch_rows,
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = args.models or root / "models"
        if args.models is None:
            train_model(models, args.train_rows, args.seed)
            result["model"] = f"uplift train --rows {args.train_rows} --seed {args.seed}"
        for rows in [1_000_000] + ([10_000_000] if args.ten_million else []):
            data = root / f"users_{rows}.parquet"
            write_users(data, rows, args.seed + 100)
            if rows == 1_000_000:
                run = compare(models, data, rows, args.batch_rows, args.repeats)
            else:
                run = {"streamed": score_run(models, data, root / "scores.parquet", args.batch_rows)}
            result["runs"][str(rows)] = run
            data.unlink()
    result["targets"] = TARGETS
    result["met"] = check(result["runs"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    for rows, run in result["runs"].items():
        s = run["streamed"]
        line = f"{int(rows):>10,} rows  streamed {s['rows_per_s']:>10,} rows/s  peak RSS {s['peak_rss_mb']:>7.1f} MB"
        if "in_memory" in run:
            line += (
                f"  in-memory {run['in_memory']['rows_per_s']:>10,} rows/s  ratio {run['speed_vs_in_memory']}"
            )
        print(line)
    print("targets met:", result["met"])
    return 0 if all(result["met"].values()) else 1


def check(runs: dict[str, Any]) -> dict[str, bool]:
    met = {"speed_vs_in_memory": runs["1000000"]["speed_vs_in_memory"] >= TARGETS["speed_vs_in_memory"]}
    if "10000000" in runs:
        growth = runs["10000000"]["streamed"]["peak_rss_mb"] / runs["1000000"]["streamed"]["peak_rss_mb"]
        runs["10000000"]["rss_growth_vs_1m"] = round(growth, 3)
        met["rss_growth_10m_vs_1m"] = growth <= TARGETS["rss_growth_10m_vs_1m"]
    return met


if __name__ == "__main__":
    raise SystemExit(main())
