"""API replicas: /predict throughput at concurrency 16 with 1 and 2 uvicorn workers, and with two
`uplift serve` processes sharing one Redis (the bandit's state), on this machine.

Each layout gets a fresh server (or two), a warm-up, then ``--requests`` one-user /predict calls from
the keep-alive asyncio client of bench_latency.py (16 connections; with two processes, 8 on each).
The client runs on the same cores as the servers: on a 2-core VM it takes a share of the CPU the
second worker would need, so the ratio printed is what this machine gives, not a property of the API.
So every layout also records where the CPU went: the server processes' CPU per request (every process
of each server's tree, from /proc), the client's (this process), and the machine's load average before
and after (other users of a shared machine take cores too). If the server CPU per request is the same
with 2 workers as with 1, the workers do not slow each other, and what keeps the ratio under 2 is the
cores: ``server_capacity_rps`` = cores left to the servers / server CPU per request, with the client's
measured CPU subtracted from the machine's cores (what the servers could do with the client elsewhere).

    uv run python loadtests/bench_replicas.py                  # trains a 100k-user model first
    uv run python loadtests/bench_replicas.py --models models --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the latency benchmark's client, as locustfile.py does
from bench_latency import cpu_seconds, drive, free_port, request_bytes, users_from

CONCURRENCY = 16
TARGET_RATIO = 1.7


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server without persistence on a free port (stopped on exit)."""
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def server(
    models: Path, data_dir: Path, redis_url: str, workers: int, namespace: str
) -> Iterator[tuple[int, int]]:
    port = free_port()
    env = {
        **os.environ,
        "UPLIFT_MODELS_DIR": str(models),
        "UPLIFT_DATA_DIR": str(data_dir),
        "UPLIFT_BANDIT_URL": redis_url,
        "UPLIFT_BANDIT_NAMESPACE": namespace,
    }
    cmd = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen([*cmd, "--workers", str(workers)], env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"server on port {port} did not become ready") from None
                time.sleep(0.05)
        settle(proc.pid)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(20)


def tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's workers are children of its supervisor)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(c) for c in task.read_text().split()]
    return out


def settle(pid: int, seconds: float = 60.0) -> None:
    """/ready answers from the first worker up; wait until every worker is done loading (the tree idles)."""
    deadline = time.monotonic() + seconds
    time.sleep(0.5)
    while time.monotonic() < deadline:
        pids = tree(pid)
        before = sum(cpu_seconds(p) for p in pids)
        time.sleep(0.5)
        if sum(cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists()) - before < 0.05:
            return


async def _drive_all(ports: list[int], reqs: list[bytes], total: int) -> tuple[list[float], list[int], float]:
    """CONCURRENCY connections spread evenly over ``ports``; wall time of the whole run."""
    share = CONCURRENCY // len(ports)
    start = time.perf_counter()
    runs = await asyncio.gather(*(drive(p, reqs, share, total // len(ports)) for p in ports))
    wall = time.perf_counter() - start
    lat = [x for r in runs for x in r[0]]
    errors = [x for r in runs for x in r[1]]
    return lat, errors, wall


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists())


def measure(servers: list[tuple[int, int]], reqs: list[bytes], total: int) -> dict[str, Any]:
    ports = [port for port, _ in servers]
    asyncio.run(_drive_all(ports, reqs, min(total, 800)))  # warm-up (every worker, every connection)
    pids = [p for _, pid in servers for p in tree(pid)]
    load = [round(x, 2) for x in os.getloadavg()]
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        server0, client0 = _cpu(pids), time.process_time()
        lat, errors, wall = asyncio.run(_drive_all(ports, reqs, total))
        server_cpu, client_cpu = _cpu(pids) - server0, time.process_time() - client0
    finally:
        gc.enable()
        gc.unfreeze()
    ms = np.array(lat) * 1e3
    n = max(1, len(lat))
    cores = os.cpu_count() or 1
    return {
        "requests": len(lat),
        "errors": len(errors),
        "rps": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "server_processes": len(pids),
        "server_cpu_ms_per_request": round(server_cpu * 1e3 / n, 4),
        "client_cpu_ms_per_request": round(client_cpu * 1e3 / n, 4),
        # Cores the servers used on average, and what the rest of the machine got (client, other users).
        "server_cores_busy": round(server_cpu / wall, 3),
        "client_cores_busy": round(client_cpu / wall, 3),
        "server_capacity_rps": round(max(0.0, cores - client_cpu / wall) / max(1e-9, server_cpu / n), 1),
        "load_before": load,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def one_round(
    models: Path, tmp: Path, redis_url: str, reqs: list[bytes], total: int, k: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with server(models, tmp / f"a{k}", redis_url, 1, f"bench-{k}-a") as one:
        out["1_worker"] = measure([one], reqs, total)
    with server(models, tmp / f"b{k}", redis_url, 2, f"bench-{k}-b") as two:
        out["2_workers"] = measure([two], reqs, total)
    with ExitStack() as stack:
        # Two processes, one Redis namespace: the replicas share the bandit's state.
        servers = [
            stack.enter_context(server(models, tmp / f"c{k}{i}", redis_url, 1, f"bench-{k}-c"))
            for i in (0, 1)
        ]
        out["2_processes_redis"] = measure(servers, reqs, total)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: train one)")
    parser.add_argument("--requests", type=int, default=6000, help="/predict calls per layout and round")
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of the three layouts; figures are medians"
    )
    parser.add_argument("--json", type=Path, default=Path("loadtests/results/replicas.json"))
    args = parser.parse_args()
    if args.runs < 1 or args.requests < CONCURRENCY:
        parser.error(f"--runs: at least 1 and --requests: at least {CONCURRENCY}")
    with tempfile.TemporaryDirectory() as tmp_name, redis_server() as redis_url:
        tmp = Path(tmp_name)
        models = args.models
        if models is None:
            models = tmp / "models"
            subprocess.run(
                [sys.executable, "-m", "services.cli", "train", "--rows", "100000", "--seed", "7",
                 "--learner", "t", "--out", str(models)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        users = users_from(models, 1000)
        reqs = [request_bytes("/predict", {"users": [u]}) for u in users]
        rounds = [one_round(models, tmp, redis_url, reqs, args.requests, k) for k in range(args.runs)]
    layouts = list(rounds[0])
    summary = {name: float(np.median([r[name]["rps"] for r in rounds])) for name in layouts}
    cpu = {name: float(np.median([r[name]["server_cpu_ms_per_request"] for r in rounds])) for name in layouts}
    ratio = {
        "2_workers_vs_1": round(summary["2_workers"] / summary["1_worker"], 3),
        "2_processes_vs_1": round(summary["2_processes_redis"] / summary["1_worker"], 3),
    }
    # Server CPU per request with 1 worker over that with 2: 1.0 means the second worker costs nothing
    # extra per request, so two free cores would give two workers twice one worker's throughput.
    cpu_ratio = {
        "1_worker_over_2_workers": round(cpu["1_worker"] / cpu["2_workers"], 3),
        "1_worker_over_2_processes": round(cpu["1_worker"] / cpu["2_processes_redis"], 3),
    }
    out = {
        "command": " ".join(["uv run python", *sys.argv]),
        "machine": {"cpus": os.cpu_count()},
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "concurrency": CONCURRENCY,
        "median_rps": summary,
        "ratio": ratio,
        "median_server_cpu_ms_per_request": cpu,
        "server_cpu_per_request_ratio": cpu_ratio,
        "target_ratio": TARGET_RATIO,
        "rounds": rounds,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'round':<6}{'layout':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'srv ms cpu/req':>16}{'client ms cpu/req':>19}{'load 1m':>9}")  # fmt: skip
    for k, r in enumerate(rounds):
        for name in layouts:
            m = r[name]
            print(f"{k:<6}{name:<20}{m['rps']:>9}{m['p50_ms']:>9}{m['p99_ms']:>9}{m['errors']:>8}"
                  f"{m['server_cpu_ms_per_request']:>16}{m['client_cpu_ms_per_request']:>19}{m['load_before'][0]:>9}")  # fmt: skip
    print(f"median req/s at concurrency {CONCURRENCY}: {summary}")
    print(f"throughput ratio against 1 worker: {ratio} (target {TARGET_RATIO}x for 2 workers)")
    print(f"server CPU per request, 1 worker over the others: {cpu_ratio} (1.0 = no extra cost per request)")
    print(f"load average at the end (uptime): {out['load_at_end']}")
    return 0 if all(r[n]["errors"] == 0 for r in rounds for n in layouts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
