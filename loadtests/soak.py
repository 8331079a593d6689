"""Soak: N minutes of mixed traffic against one fresh `uplift serve`; per minute, the requests, errors,
p99 latency per route, the server's RSS and the bandit store's size.

The mix: one-user /predict, one-user /optimize followed by /feedback for about half of its
assignments, a 100-user /predict, /bandit and /ready, from ``--clients`` keep-alive clients paced
to ``--rate`` requests/s in all. An error is any answer other than 200 (or a transport failure).

    uv run python loadtests/soak.py --minutes 10            # trains a small model first unless --models
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from bench_latency import free_port, rss_mb, users_from  # this folder, run as a script

POLICY = {"budget": 1000.0, "cost_per_treatment": 0.5, "value_per_conversion": 20.0}
# (route label, share of requests)
MIX: tuple[tuple[str, float], ...] = (
    ("predict_1", 0.55),
    ("optimize_1", 0.25),
    ("predict_100", 0.05),
    ("bandit", 0.05),
    ("ready", 0.10),
)


class Window:
    """One minute's figures."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.rss_mb = 0.0
        self.store_mb = 0.0
        self.assignments = 0

    def sample(self, pid: int, store: Path) -> None:
        """The server's RSS and the store's size, taken as this minute ends."""
        self.rss_mb = round(rss_mb(pid), 1)
        self.store_mb = round(store_bytes(store) / 2**20, 2)
        self.assignments = assignments(store)

    def line(self, minute: int) -> dict[str, Any]:
        requests = sum(len(v) for v in self.latency.values())
        p99 = {k: round(float(np.quantile(v, 0.99)) * 1e3, 2) for k, v in sorted(self.latency.items()) if v}
        return {
            "minute": minute,
            "requests": requests,
            "errors": sum(self.errors.values()),
            "errors_by_route": dict(self.errors),
            "p99_ms": p99,
            "rss_mb": self.rss_mb,
            "store_mb": self.store_mb,
            "assignments": self.assignments,
        }


def store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def assignments(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM assignments").fetchone()[0])
    finally:
        conn.close()


async def client(
    url: str,
    users: list[dict[str, Any]],
    per_client_rate: float,
    stop_at: float,
    windows: list[Window],
    t0: float,
) -> None:
    rng = random.Random(os.getpid() ^ id(windows) ^ int(per_client_rate * 1000))
    routes = [r for r, _ in MIX]
    weights = [w for _, w in MIX]
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        next_at = time.monotonic()
        while next_at < stop_at:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += rng.expovariate(per_client_rate)
            route = rng.choices(routes, weights)[0]
            window = windows[min(int((time.monotonic() - t0) // 60), len(windows) - 1)]
            start = time.perf_counter()
            try:
                status, assignments_ = await _call(http, route, users, rng)
            except httpx.HTTPError:
                status, assignments_ = -1, []
            window.latency[route].append(time.perf_counter() - start)
            if status != 200:
                window.errors[route] += 1
            for aid in assignments_:
                if rng.random() < 0.5:
                    start = time.perf_counter()
                    try:
                        body = {"assignment_id": aid, "reward": rng.randint(0, 1)}
                        status = (await http.post("/feedback", json=body)).status_code
                    except httpx.HTTPError:
                        status = -1
                    window.latency["feedback"].append(time.perf_counter() - start)
                    if status != 200:
                        window.errors["feedback"] += 1


async def _call(
    http: httpx.AsyncClient, route: str, users: list[dict[str, Any]], rng: random.Random
) -> tuple[int, list[str]]:
    if route == "predict_1":
        return (await http.post("/predict", json={"users": [rng.choice(users)]})).status_code, []
    if route == "predict_100":
        start = rng.randrange(len(users) - 100)
        return (await http.post("/predict", json={"users": users[start : start + 100]})).status_code, []
    if route == "optimize_1":
        body = {"users": [rng.choice(users)], "policy": {**POLICY, "seed": rng.randrange(2**31)}}
        res = await http.post("/optimize", json=body)
        ids = [d["assignment_id"] for d in res.json()["decisions"]] if res.status_code == 200 else []
        return res.status_code, ids
    return (await http.get(f"/{route}")).status_code, []


async def sampler(windows: list[Window], t0: float, pid: int, store: Path) -> None:
    for i, window in enumerate(windows):
        await asyncio.sleep(max(0.0, t0 + 60 * (i + 1) - time.monotonic()))
        await asyncio.to_thread(window.sample, pid, store)


async def drive(
    url: str, users: list[dict[str, Any]], minutes: int, clients: int, rate: float, pid: int, store: Path
) -> list[Window]:
    windows = [Window() for _ in range(minutes)]
    t0 = time.monotonic()
    stop_at = t0 + 60 * minutes
    await asyncio.gather(
        sampler(windows, t0, pid, store),
        *(client(url, users, rate / clients, stop_at, windows, t0) for _ in range(clients)),
    )
    return windows


def serve(models: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "UPLIFT_MODELS_DIR": str(models), "UPLIFT_DATA_DIR": str(data_dir)}
    argv = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(argv, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the server did not become ready")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=int, default=10, help="length of the soak (default 10)")
    parser.add_argument(
        "--models", type=Path, default=None, help="models folder (default: train a small one)"
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second in all (paced)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    for name, value, low in (("minutes", args.minutes, 1), ("clients", args.clients, 1)):
        if value < low:
            parser.error(f"--{name}: must be at least {low}, got {value}")
    if not args.rate > 0:
        parser.error(f"--rate: must be positive, got {args.rate}")
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models
        if models is None:
            models = Path(tmp) / "models"
            train = [sys.executable, "-m", "services.cli", "train", "--rows", "30000", "--seed", "7"]
            subprocess.run([*train, "--out", str(models)], check=True, stdout=subprocess.DEVNULL)
        data_dir = Path(tmp) / "var"
        users = users_from(models, 1000)
        proc, url = serve(models, data_dir)
        store = data_dir / "bandit.db"
        try:
            start = {"rss_mb": round(rss_mb(proc.pid), 1), "store_mb": round(store_bytes(store) / 2**20, 2)}
            windows = asyncio.run(drive(url, users, args.minutes, args.clients, args.rate, proc.pid, store))
            lines = [w.line(i + 1) for i, w in enumerate(windows)]
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"start: rss {start['rss_mb']} MB, store {start['store_mb']} MB")
    print(
        f"{'min':>3}{'requests':>10}{'errors':>8}{'rss MB':>9}{'store MB':>10}{'assign.':>9}  p99 ms per route"
    )
    for r in lines:
        p99 = ", ".join(f"{k} {v}" for k, v in r["p99_ms"].items())
        print(
            f"{r['minute']:>3}{r['requests']:>10}{r['errors']:>8}{r['rss_mb']:>9}{r['store_mb']:>10}"
            f"{r['assignments']:>9}  {p99}"
        )
    total_errors = sum(r["errors"] for r in lines)
    rss_growth = lines[-1]["rss_mb"] - lines[0]["rss_mb"]
    store_growth = (lines[-1]["store_mb"] - start["store_mb"]) / len(lines)
    print(
        f"total: {sum(r['requests'] for r in lines)} requests, {total_errors} errors; RSS {lines[0]['rss_mb']} -> "
        f"{lines[-1]['rss_mb']} MB ({rss_growth:+.1f} MB after minute 1); store +{store_growth:.2f} MB/min"
    )
    if args.json is not None:
        args.json.write_text(json.dumps({"start": start, "minutes": lines}, indent=2) + "\n")
    return 1 if total_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
