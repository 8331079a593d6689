"""The load clients of bench_replicas.py: wrk (the default) and bench_latency.py's asyncio client.

Each is a ``Client``: called with the servers' ports and whether this is the warm-up, it spreads
CONCURRENCY keep-alive connections evenly over the ports and returns what it got and the CPU it took
(the client shares the machine's cores with the servers, so its CPU is part of the figures).

wrk runs under a scheduling policy, ``batch`` or ``normal`` (``CLIENT_POLICIES``). Under Linux's
default policy a task that wakes up preempts the task running on its core: wrk wakes at every burst
of answers, and when the servers hold both cores it takes one from a worker mid-batch, thousands of
times a second (bench_replicas.py counts the servers' involuntary context switches). A client on
another machine, where a server's clients are, never does that. Under ``SCHED_BATCH`` (``chrt
--batch 0``, util-linux) wrk keeps its fair share of the cores but waits for the running task's
slice to end instead of preempting it (the kernel's wake-up preemption skips batch tasks).
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bench_latency import drive

CONCURRENCY = 16
WRK_SCRIPT = Path(__file__).parent / "wrk_post.lua"
WRK_MISSING = "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), or run with --client asyncio"
CHRT_MISSING = "chrt is not installed (util-linux): install it, or run with --client-policy normal (no control runs then)"
# The wrk process's scheduling policy: the command that runs it under that policy.
CLIENT_POLICIES: dict[str, list[str]] = {"batch": ["chrt", "--batch", "0"], "normal": []}


@dataclass(frozen=True)
class Load:
    """One measured run of the client: what it got, and the CPU it took."""

    requests: int
    errors: int
    wall_s: float
    p50_ms: float
    p99_ms: float
    client_cpu_s: float


# A client: (ports, warm-up?) -> the run; the connections are spread evenly over the ports.
Client = Callable[[list[int], bool], Load]


async def _drive_all(ports: list[int], reqs: list[bytes], total: int) -> tuple[list[float], list[int], float]:
    """CONCURRENCY connections spread evenly over ``ports``; wall time of the whole run."""
    share = CONCURRENCY // len(ports)
    start = time.perf_counter()
    runs = await asyncio.gather(*(drive(p, reqs, share, total // len(ports)) for p in ports))
    wall = time.perf_counter() - start
    lat = [x for r in runs for x in r[0]]
    errors = [x for r in runs for x in r[1]]
    return lat, errors, wall


def asyncio_client(reqs: list[bytes], total: int) -> Client:
    """bench_latency.py's client, in this process: ``total`` requests (800 at most to warm up)."""

    def run(ports: list[int], warm_up: bool) -> Load:
        if warm_up:
            asyncio.run(_drive_all(ports, reqs, min(total, 800)))
            return Load(0, 0, 0.0, 0.0, 0.0, 0.0)
        # The client's own garbage collector would stall all connections at once: off while measuring.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            cpu0 = time.process_time()
            lat, errors, wall = asyncio.run(_drive_all(ports, reqs, total))
            cpu = time.process_time() - cpu0
        finally:
            gc.enable()
            gc.unfreeze()
        ms = np.array(lat) * 1e3
        p50, p99 = (float(np.percentile(ms, q)) for q in (50, 99))
        return Load(len(lat), len(errors), wall, p50, p99, cpu)

    return run


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _wrk_argv(port: int, connections: int, seconds: int, bodies: Path, policy: str = "normal") -> list[str]:
    url = f"http://127.0.0.1:{port}"
    return [*CLIENT_POLICIES[policy], "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(WRK_SCRIPT), url, "--", str(bodies), "/predict"]  # fmt: skip


def wrk_client(bodies: Path, seconds: int, policy: str = "normal") -> Client:
    """One wrk process per port (one thread each), all at once, for ``seconds`` (1 s to warm up),
    under the scheduling ``policy`` (see the module's docstring). Its CPU is that of the reaped wrk
    processes; the servers are not reaped while it runs."""
    if policy not in CLIENT_POLICIES:
        raise ValueError(f"policy: one of {sorted(CLIENT_POLICIES)}, got {policy!r}")

    def run(ports: list[int], warm_up: bool) -> Load:
        share = CONCURRENCY // len(ports)
        duration = 1 if warm_up else seconds  # wrk takes whole seconds
        cpu0 = _children_cpu()
        procs = [
            subprocess.Popen(
                _wrk_argv(port, share, duration, bodies, policy), stdout=subprocess.PIPE, text=True
            )
            for port in ports
        ]
        outs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
        cpu = _children_cpu() - cpu0
        n = sum(o["requests"] for o in outs)
        # wrk reports percentiles per process: p50 weighted by requests, p99 the worse of the two.
        p50 = sum(o["p50_us"] * o["requests"] for o in outs) / max(1, n) / 1e3
        p99 = max(o["p99_us"] for o in outs) / 1e3
        errors = sum(sum(o["errors"].values()) for o in outs)
        return Load(n, errors, max(o["duration_us"] for o in outs) / 1e6, p50, p99, cpu)

    return run
