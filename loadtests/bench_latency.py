"""API latency benchmark: one `uplift serve` worker on a free port, driven by a low-overhead asyncio
keep-alive HTTP/1.1 client at several concurrencies. Prints and writes p50/p95/p99, requests/s,
server CPU per request (from /proc/<pid>/stat) and server RSS.

    uv run python loadtests/bench_latency.py            # trains a 200k-user model first unless --models is given
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shared.artifacts import current_version

TICKS = os.sysconf("SC_CLK_TCK")
POLICY = {"budget": 1e9, "cost_per_treatment": 0.5, "value_per_conversion": 20.0}
TARGETS = {
    "cpu_ms_per_predict": 0.4,
    "predict_1_p99_ms_c8": 5.0,
    "optimize_1_p99_ms_c8": 6.0,
    "predict_1000_p99_ms": 20.0,
    "ready_s": 3.0,
    "rss_mb": 300.0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def status_count(pid: int, field: str) -> int | None:
    """The number after ``field:`` in /proc/<pid>/status (None if the kernel gives no such field)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def rss_mb(pid: int) -> float:
    kb = status_count(pid, "VmRSS")
    return float("nan") if kb is None else kb / 1024


def reference_loop_s() -> float:
    """Seconds for a fixed pure-Python loop (best of 3), taken beside each run's figures.

    This VM's speed moves by 2× or more between sessions and within one; every figure here is CPU
    time or a multiple of it, so a run is read against this number, not against another day's.
    """
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def request_bytes(path: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response from a keep-alive connection: (status, body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def _worker(
    port: int, reqs: list[bytes], offset: int, n: int, lat: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for i in range(n):
        start = time.perf_counter()
        writer.write(reqs[(offset + i) % len(reqs)])
        status, _ = await read_response(reader)
        lat.append(time.perf_counter() - start)
        if status != 200:
            errors.append(status)
    writer.close()


async def drive(
    port: int, reqs: list[bytes], concurrency: int, total: int
) -> tuple[list[float], list[int], float]:
    lat: list[float] = []
    errors: list[int] = []
    per = max(1, total // concurrency)
    start = time.perf_counter()
    await asyncio.gather(*(_worker(port, reqs, k * 7919, per, lat, errors) for k in range(concurrency)))
    return lat, errors, time.perf_counter() - start


def scenario(pid: int, port: int, reqs: list[bytes], concurrency: int, total: int) -> dict[str, Any]:
    asyncio.run(drive(port, reqs, concurrency, min(total, 200)))  # warm-up of this shape
    # The client's own garbage collector (pandas and numpy make its heap large) would stall all
    # connections at once and show up as server tail latency; it stays off while measuring.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        cpu0 = cpu_seconds(pid)
        lat, errors, wall = asyncio.run(drive(port, reqs, concurrency, total))
        cpu = cpu_seconds(pid) - cpu0
    finally:
        gc.enable()
        gc.unfreeze()
    ms = np.array(lat) * 1e3
    return {
        "concurrency": concurrency,
        "requests": len(lat),
        "errors": len(errors),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "rps": round(len(lat) / wall, 1),
        "server_cpu_ms_per_request": round(cpu / len(lat) * 1e3, 4),
    }


def batch_counts(port: int) -> tuple[float, float]:
    """(requests, batches) answered by /optimize's batcher so far, from the server's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = {"sum": 0.0, "count": 0.0}
    for line in text.splitlines():
        for k in found:
            if line.startswith(f"uplift_optimize_batch_requests_{k} "):
                found[k] = float(line.split()[1])
    return found["sum"], found["count"]


def users_from(models: Path, n: int) -> list[dict[str, Any]]:
    version = current_version(models)
    manifest = json.loads((models / version / "manifest.json").read_text())
    names = [f["name"] for f in manifest["features"]["features"]]
    frame = pd.read_parquet(models / version / "holdout_sample.parquet").head(n)
    rows = frame[names].astype(object).to_dict(orient="records")
    return [{"user_id": f"u{i}", "features": r} for i, r in enumerate(rows)]


def one_run(models: Path, data_dir: Path, requests: int) -> dict[str, Any]:
    """Start a fresh server, time it to /ready, drive every scenario, read its RSS, stop it."""
    reference = reference_loop_s()
    port = free_port()
    env = {**os.environ, "UPLIFT_MODELS_DIR": str(models), "UPLIFT_DATA_DIR": str(data_dir)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                    if r.status == 200:
                        ready = json.loads(r.read())
                        break
            except OSError:
                time.sleep(0.02)
        ready_s = time.perf_counter() - start
        users = users_from(models, 1000)
        # Distinct users per request (and a seed per /optimize request), cycled: the same request
        # over and over would measure one user's branch (treated or not) and nothing else.
        predict1 = [request_bytes("/predict", {"users": [u]}) for u in users]
        optimize1 = [
            request_bytes("/optimize", {"users": [u], "policy": {**POLICY, "seed": i}})
            for i, u in enumerate(users)
        ]
        predict1000 = [request_bytes("/predict", {"users": users})]
        results: dict[str, Any] = {"predict_1": [], "optimize_1": [], "predict_1000": []}
        for c in (1, 8, 32):
            results["predict_1"].append(scenario(proc.pid, port, predict1, c, requests))
            before = batch_counts(port)
            row = scenario(proc.pid, port, optimize1, c, requests // 2)
            after = batch_counts(port)
            # Requests per batch over the warm-up and the measured part of this scenario.
            row["requests_per_batch"] = round((after[0] - before[0]) / max(after[1] - before[1], 1), 2)
            results["optimize_1"].append(row)
        for c in (1, 8):
            results["predict_1000"].append(scenario(proc.pid, port, predict1000, c, 200))
        rss = rss_mb(proc.pid)
        # What served, read after the runs: the pair scorer takes over ranking once the warm-up
        # thread has loaded the boosters, a moment after /ready.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as r:
            ready = json.loads(r.read())
    finally:
        proc.terminate()
        proc.wait(10)
    by_c = {name: {r["concurrency"]: r for r in rows} for name, rows in results.items()}
    summary = {
        "ready_s": round(ready_s, 3),
        "rss_mb": round(rss, 1),
        "cpu_ms_per_predict": by_c["predict_1"][8]["server_cpu_ms_per_request"],
        "predict_1_p99_ms_c8": by_c["predict_1"][8]["p99_ms"],
        "optimize_1_p99_ms_c8": by_c["optimize_1"][8]["p99_ms"],
        "predict_1000_p99_ms": by_c["predict_1000"][1]["p99_ms"],
        # Beside the targets: CPU per request with the server saturated (at c8 it flips between two
        # levels from run to run, by how requests batch per event-loop wake-up), and /optimize
        # latency for a lone client and its CPU cost and batching at c8.
        "cpu_ms_per_predict_c32": by_c["predict_1"][32]["server_cpu_ms_per_request"],
        "optimize_1_p99_ms_c1": by_c["optimize_1"][1]["p99_ms"],
        "cpu_ms_per_optimize_c8": by_c["optimize_1"][8]["server_cpu_ms_per_request"],
        "optimize_requests_per_batch_c8": by_c["optimize_1"][8]["requests_per_batch"],
        # The machine's speed just before this run (reference_loop_s): lower is faster.
        "reference_loop_s": reference,
    }
    serving = {k: ready.get(k) for k in ("serving_format", "ranker_format", "model_version")}
    return {"summary": summary, "serving": serving, **results}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: train one)")
    parser.add_argument("--requests", type=int, default=4000, help="requests per one-user scenario")
    parser.add_argument("--runs", type=int, default=5, help="fresh server runs; the summary is their median")
    parser.add_argument("--json", type=Path, default=Path("loadtests/results/latency.json"))
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs: must be at least 1, got {args.runs}")
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models
        if models is None:
            models = Path(tmp) / "models"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "services.cli",
                    "train",
                    "--rows",
                    "200000",
                    "--seed",
                    "7",
                    "--out",
                    str(models),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        runs = [one_run(models, Path(tmp) / f"var{i}", args.requests) for i in range(args.runs)]
    # Latency on a shared 2-core VM moves from run to run; the median of fresh-server runs is the
    # figure, and every run's own figure is kept beside it.
    keys = list(runs[0]["summary"])
    summary = {k: float(np.median([r["summary"][k] for r in runs])) for k in keys}
    spread = {k: [r["summary"][k] for r in runs] for k in keys}
    met = {k: summary[k] <= TARGETS[k] for k in TARGETS}
    out = {
        "command": " ".join(["uv run python", *sys.argv]),
        "machine": {"cpus": os.cpu_count()},
        "workers": 1,
        "serving": runs[-1]["serving"],
        "summary": summary,
        "per_run": spread,
        "targets": TARGETS,
        "met": met,
        "runs": runs,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"{'run':<4}{'scenario':<14}{'conc':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}{'cpu ms/req':>12}{'errors':>8}"
    )
    for i, run in enumerate(runs):
        for name in ("predict_1", "optimize_1", "predict_1000"):
            for r in run[name]:
                print(
                    f"{i:<4}{name:<14}{r['concurrency']:>5}{r['p50_ms']:>9}{r['p95_ms']:>9}{r['p99_ms']:>9}"
                    f"{r['rps']:>9}{r['server_cpu_ms_per_request']:>12}{r['errors']:>8}"
                )
    print("serving:", out["serving"])
    print("per run:", spread)
    print("summary (median of runs):", summary)
    print("targets met:", met)
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
