"""API replicas: /predict throughput at concurrency 16 with 1 and 2 uvicorn workers, and with two
`uplift serve` processes sharing one Redis (the bandit's state), on this machine.

A fourth layout, ``2_processes_one_port``, is the like-for-like control for ``2_workers``: two
single-worker processes (no supervisor, no Prometheus multiprocess files, no reload sync) that share
one port through ``SO_REUSEPORT`` and are driven by the same client as ``2_workers`` (one wrk, 16
connections that the kernel splits between them). The server CPU per request depends mostly on how
many requests each worker answers per event-loop turn (one wake-up and one model call for the whole
batch, services.api.batching), and that depends on how the client's connections map onto the
servers. In runs with the batcher's counters read out (medians, range): one worker under 16
connections answered 7.9 requests per batch (7.3-8.0); two servers each driven by a wrk of its own,
whose connections stay in step, 6.8 (5.2-7.7); one client split over two servers, whose connections
fall out of step, 6.2 (4.1-7.1, also at 8/8 splits). In a round where the separate servers' batches
fell to 6.2 too, their CPU per request matched the two workers'.
So ``2_workers`` spent 11-20% more CPU per request than one worker, and ``2_processes_one_port``
as much as ``2_workers``: the cost is the split client, not the worker layout (a worker of
``2_workers`` holding a single connection cost what one worker does, 0.31 ms per request each).

Each layout gets a fresh server (or two), a warm-up, then a run of one-user /predict calls over 16
keep-alive connections (with two processes on two ports, 8 on each). The client runs on the same
cores as the servers: on a 2-core VM it takes a share of the CPU the second worker needs, so the
ratio printed is what this machine gives, not a property of the API. So every layout also records
where the CPU went: the server processes' CPU per request (every process of each server's tree, from
/proc), the client's, and the machine's load average before and after (other users of a shared
machine take cores too). If the server CPU per request is the same with 2 workers as with 1, the
workers do not slow each other, and what keeps the ratio under 2 is the cores:
``server_capacity_rps`` = cores left to the servers / server CPU per request, with the client's
measured CPU subtracted from the machine's cores (what the servers could do with the client
elsewhere).

The client is wrk (``--client wrk``, the default; one thread per port, HTTP/1.1 keep-alive, the
bodies from loadtests/wrk_post.lua), because it took the least CPU per /predict request at concurrency
16 on this 2-core VM: bench_latency.py's asyncio client 0.034-0.050 ms (loadtests/results/replicas.json
before wrk, 0.13-0.28 of a core beside the servers; 0.037-0.039 ms in runs paired with wrk's), a bare
epoll loop in Python 0.020-0.024 ms (a one-off trial), wrk 0.019-0.036 ms (the higher figures at
load average 10-12), most of it kernel time (the loopback send path, which any client pays).
``--client asyncio`` keeps the old client (``--requests`` calls) to compare.

wrk runs under ``SCHED_BATCH`` by default (``--client-policy batch``; replica_clients.py says why):
under the default policy its wake-ups preempted the workers thousands of times a second once two
workers held both cores, which a client on another machine never does. Every round also runs 1 and 2
workers with wrk under the other policy (the layouts ``*_normal_client``), so both ratios come from
the same servers, seconds apart; each layout records the servers' involuntary context switches.

    apt-get install -y wrk                                     # Debian/Ubuntu; the default client
    uv run python loadtests/bench_replicas.py                  # trains a 100k-user model first
    uv run python loadtests/bench_replicas.py --models models --runs 3 --seconds 3
    uv run python loadtests/bench_replicas.py --models models --users-per-request 10   # the servers' scaling (keep 16 x N under ONNX_MAX_ROWS: /predict batches)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))  # the latency benchmark's client, as locustfile.py does
from bench_latency import cpu_seconds, free_port, request_bytes, status_count, users_from
from replica_clients import (
    CHRT_MISSING,
    CLIENT_POLICIES,
    CONCURRENCY,
    WRK_MISSING,
    Client,
    asyncio_client,
    wrk_client,
)

TARGET_RATIO = 1.7
# Each layout against one worker: (figure's key, layout, the one-worker layout it is compared with).
AGAINST_ONE = (
    ("2_workers_vs_1", "2_workers", "1_worker"),
    ("2_processes_one_port_vs_1", "2_processes_one_port", "1_worker"),
    ("2_processes_vs_1", "2_processes_redis", "1_worker"),
)


def against_one(layouts: list[str]) -> list[tuple[str, str, str]]:
    """AGAINST_ONE, plus the control for the client's scheduling policy when the rounds ran it."""
    pairs = list(AGAINST_ONE)
    for other in CLIENT_POLICIES:
        if f"2_workers_{other}_client" in layouts:
            pairs.append(
                (f"2_workers_vs_1_{other}_client", f"2_workers_{other}_client", f"1_worker_{other}_client")
            )
    return pairs


def involuntary_switches(pid: int) -> int:
    """Times the scheduler took the core from ``pid`` while it could still run (preempted)."""
    return status_count(pid, "nonvoluntary_ctxt_switches") or 0


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


# One worker as each of `uplift serve --workers N`'s runs (its own SO_REUSEPORT socket), without the
# supervisor and the shared folders: ``python -c`` with the port as its argument.
REUSE_PORT_WORKER = (
    "import sys; from services.api import workers; from services.api.settings import ApiSettings; "
    "s = ApiSettings(); workers.run_worker(workers.WorkerOptions("
    "'127.0.0.1', int(sys.argv[1]), 'warning', s.max_connections, s.keep_alive_timeout_s))"
)


@contextmanager
def server(
    models: Path,
    data_dir: Path,
    redis_url: str,
    workers: int,
    namespace: str,
    port: int | None = None,
    reuse_port: bool = False,
) -> Iterator[tuple[int, int]]:
    """`uplift serve` on ``port`` (default: a free one); ``reuse_port``: one worker alone on a
    reuse-port socket (``REUSE_PORT_WORKER``), so that several such servers can share ``port``."""
    port = port or free_port()
    env = {
        **os.environ,
        "UPLIFT_MODELS_DIR": str(models),
        "UPLIFT_DATA_DIR": str(data_dir),
        "UPLIFT_BANDIT_URL": redis_url,
        "UPLIFT_BANDIT_NAMESPACE": namespace,
    }
    cmd = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    cmd += ["--workers", str(workers)]
    if reuse_port:
        if workers != 1:
            raise ValueError(f"reuse_port: one worker per server, got {workers}")
        # What `uplift serve` sets before it starts a worker (services.api.commands).
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **env}
        cmd = [sys.executable, "-c", REUSE_PORT_WORKER, str(port)]
    proc = subprocess.Popen(cmd, env=env)
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
        # /ready answers from the first worker up; the others report (reload sync) as they start.
        while workers > 1 and len(list((data_dir / "reload").glob("worker-*.json"))) < workers:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the {workers} workers on port {port} did not all start")
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


def listening_sockets(port: int) -> int:
    """Sockets listening on ``port``: 1 shared by uvicorn's own workers, 1 per worker with SO_REUSEPORT."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for f in rows if int(f[1].split(":")[1], 16) == port and f[3] == "0A")


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


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(p) for p in pids if Path(f"/proc/{p}").exists())


def connections_by_process(ports: list[int], pids: list[int]) -> list[int]:
    """Established connections to ``ports`` held by each of ``pids`` (those holding any), fewest first:
    with SO_REUSEPORT the kernel splits them by a hash of their addresses, not evenly."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) in ports:  # 01: ESTABLISHED
                inodes.add(f[9])
    counts = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:  # gone, or not ours to read
            continue
        n = 0
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:  # closed since the listing (the listing's own descriptor, for one)
                continue
            n += link.startswith("socket:[") and link[8:-1] in inodes
        if n:
            counts.append(n)
    return sorted(counts)


def measure(servers: list[tuple[int, int]], client: Client, ports: list[int] | None = None) -> dict[str, Any]:
    """One measured run; ``ports``: those the client drives (default: each server's, in turn)."""
    ports = ports or [port for port, _ in servers]
    client(ports, True)  # warm-up (every worker, every connection)
    pids = [p for _, pid in servers for p in tree(pid)]
    load = [round(x, 2) for x in os.getloadavg()]
    server0 = {p: cpu_seconds(p) for p in pids}
    switches0 = {p: involuntary_switches(p) for p in pids}
    split: list[int] = []
    # The connections are read a second into the run, once every one of them is open.
    sampler = threading.Timer(1.0, lambda: split.extend(connections_by_process(ports, pids)))
    sampler.start()
    run = client(ports, False)
    sampler.join()
    per_process = [_cpu([p]) - c for p, c in server0.items()]
    switches = sum(involuntary_switches(p) - c for p, c in switches0.items() if Path(f"/proc/{p}").exists())
    server_cpu, client_cpu, wall = sum(per_process), run.client_cpu_s, run.wall_s
    n = max(1, run.requests)
    cores = os.cpu_count() or 1
    return {
        "requests": run.requests,
        "errors": run.errors,
        "rps": round(run.requests / wall, 1),
        "p50_ms": round(run.p50_ms, 3),
        "p99_ms": round(run.p99_ms, 3),
        "server_processes": len(pids),
        "listening_sockets": sum(listening_sockets(port) for port in ports),
        "connections_per_process": split,
        # CPU seconds of each busy server process: a worker with fewer connections idles at times.
        "busy_process_cpu_s": sorted(round(c, 2) for c in per_process if c > 0.05),
        "server_cpu_ms_per_request": round(server_cpu * 1e3 / n, 4),
        # Preemptions of the server processes (by the client's wake-ups, mostly, when both cores are busy).
        "server_involuntary_switches_per_1k_requests": round(switches * 1e3 / n, 1),
        "client_cpu_ms_per_request": round(client_cpu * 1e3 / n, 4),
        # Cores the servers used on average, and what the rest of the machine got (client, other users).
        "server_cores_busy": round(server_cpu / wall, 3),
        "client_cores_busy": round(client_cpu / wall, 3),
        "server_capacity_rps": round(max(0.0, cores - client_cpu / wall) / max(1e-9, server_cpu / n), 1),
        "load_before": load,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }


def one_round(
    models: Path, tmp: Path, redis_url: str, client: Client, k: int, control: tuple[str, Client] | None = None
) -> dict[str, Any]:
    """Every layout once; ``control`` (policy, client): 1 and 2 workers again on the same servers,
    driven by that client, before the main client in even rounds and after it in odd ones."""
    out: dict[str, Any] = {}
    runs: list[tuple[str, Client]] = [("", client)]
    if control is not None:
        runs.insert(k % 2, (f"_{control[0]}_client", control[1]))
    with server(models, tmp / f"a{k}", redis_url, 1, f"bench-{k}-a") as one:
        for suffix, driver in runs:
            out[f"1_worker{suffix}"] = measure([one], driver)
    with server(models, tmp / f"b{k}", redis_url, 2, f"bench-{k}-b") as two:
        for suffix, driver in runs:
            out[f"2_workers{suffix}"] = measure([two], driver)
    with ExitStack() as stack:
        # Two processes on one port, driven as 2_workers is: one client whose connections the kernel
        # splits between them (the control for 2_workers; see the module's docstring).
        first = stack.enter_context(
            server(models, tmp / f"d{k}0", redis_url, 1, f"bench-{k}-d", reuse_port=True)
        )
        second = stack.enter_context(
            server(models, tmp / f"d{k}1", redis_url, 1, f"bench-{k}-d", port=first[0], reuse_port=True)
        )
        out["2_processes_one_port"] = measure([first, second], client, ports=[first[0]])
    with ExitStack() as stack:
        # Two processes, one Redis namespace: the replicas share the bandit's state.
        servers = [
            stack.enter_context(server(models, tmp / f"c{k}{i}", redis_url, 1, f"bench-{k}-c"))
            for i in (0, 1)
        ]
        out["2_processes_redis"] = measure(servers, client)
    return out


def request_bodies(users: list[dict[str, Any]], per_request: int) -> list[dict[str, Any]]:
    """/predict bodies of ``per_request`` users each, taken in turn from ``users`` (wrapping around),
    one body per user so the cycle of bodies covers every user."""
    n = len(users)
    return [{"users": [users[(i + j) % n] for j in range(per_request)]} for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", type=Path, default=None, help="models folder (default: train one)")
    parser.add_argument("--client", choices=("wrk", "asyncio"), default="wrk", help="load generator")
    parser.add_argument("--seconds", type=int, default=3, help="wrk: length of each measured run")
    parser.add_argument(
        "--client-policy",
        choices=sorted(CLIENT_POLICIES),
        default="batch",
        help="wrk's scheduling policy (see replica_clients.py); 1 and 2 workers are also run under the other",
    )
    parser.add_argument(
        "--requests", type=int, default=6000, help="asyncio: /predict calls per layout and round"
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of the three layouts; figures are medians"
    )
    parser.add_argument(
        "--users-per-request",
        type=int,
        default=1,
        help="users in each /predict body (1: one-user calls, where the client's share of the cores "
        "weighs most; more: the servers' own scaling shows)",
    )
    parser.add_argument("--json", type=Path, default=Path("loadtests/results/replicas.json"))
    args = parser.parse_args()
    if args.runs < 1 or args.requests < CONCURRENCY or args.seconds < 1:
        parser.error(f"--runs: at least 1, --requests: at least {CONCURRENCY}, --seconds: at least 1")
    from services.api.settings import ApiSettings

    # The servers started here read the same environment, so this is the cap they will apply.
    max_users = ApiSettings().max_batch
    if not 1 <= args.users_per_request <= max_users:
        parser.error(
            f"--users-per-request: between 1 and {max_users} (UPLIFT_MAX_BATCH), got {args.users_per_request}"
        )
    if args.client == "wrk" and shutil.which("wrk") is None:
        parser.error(WRK_MISSING)
    has_chrt = shutil.which("chrt") is not None
    if args.client == "wrk" and args.client_policy == "batch" and not has_chrt:
        parser.error(CHRT_MISSING)
    other = next(p for p in CLIENT_POLICIES if p != args.client_policy)
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
        bodies = request_bodies(users_from(models, 1000), args.users_per_request)
        if args.client == "wrk":
            (tmp / "bodies.jsonl").write_text("".join(json.dumps(b) + "\n" for b in bodies))
            client = wrk_client(tmp / "bodies.jsonl", args.seconds, args.client_policy)
            # The other policy's control runs need chrt too; without it, the normal client alone.
            control: tuple[str, Client] | None = (
                (other, wrk_client(tmp / "bodies.jsonl", args.seconds, other)) if has_chrt else None
            )
        else:
            client = asyncio_client([request_bytes("/predict", b) for b in bodies], args.requests)
            control = None
        rounds = [one_round(models, tmp, redis_url, client, k, control) for k in range(args.runs)]
    layouts = list(rounds[0])
    pairs = against_one(layouts)
    summary = {name: float(np.median([r[name]["rps"] for r in rounds])) for name in layouts}
    cpu = {name: float(np.median([r[name]["server_cpu_ms_per_request"] for r in rounds])) for name in layouts}
    ratio = {key: round(summary[layout] / summary[base], 3) for key, layout, base in pairs}
    # The machine's speed drifts between rounds (other users of its cores): each round's own ratio
    # compares layouts run within seconds of each other, so their median is the steadier figure.
    paired = {
        key: round(float(np.median([r[layout]["rps"] / r[base]["rps"] for r in rounds])), 3)
        for key, layout, base in pairs
    }
    # Server CPU per request with 1 worker over that with 2: 1.0 means the second worker costs nothing
    # extra per request, so two free cores would give two workers twice one worker's throughput.
    cpu_ratio = {
        f"{base}_over_{layout.replace('_redis', '')}": round(cpu[base] / cpu[layout], 3)
        for _, layout, base in pairs
    }
    out = {
        "command": " ".join(["uv run python", *sys.argv]),
        "machine": {"cpus": os.cpu_count()},
        "client": args.client,
        "client_policy": args.client_policy if args.client == "wrk" else "normal",
        "median_server_involuntary_switches_per_1k_requests": {
            name: float(np.median([r[name]["server_involuntary_switches_per_1k_requests"] for r in rounds]))
            for name in layouts
        },
        "median_client_cpu_ms_per_request": {
            name: float(np.median([r[name]["client_cpu_ms_per_request"] for r in rounds])) for name in layouts
        },
        "load_at_end": [round(x, 2) for x in os.getloadavg()],
        "concurrency": CONCURRENCY,
        "users_per_request": args.users_per_request,
        "median_rps": summary,
        "median_users_per_s": {name: round(v * args.users_per_request, 1) for name, v in summary.items()},
        "ratio": ratio,
        "median_round_ratio": paired,
        "median_server_cpu_ms_per_request": cpu,
        "server_cpu_per_request_ratio": cpu_ratio,
        "target_ratio": TARGET_RATIO,
        "rounds": rounds,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'round':<6}{'layout':<26}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'srv ms cpu/req':>16}{'client ms cpu/req':>19}{'load 1m':>9}")  # fmt: skip
    for k, r in enumerate(rounds):
        for name in layouts:
            m = r[name]
            print(f"{k:<6}{name:<26}{m['rps']:>9}{m['p50_ms']:>9}{m['p99_ms']:>9}{m['errors']:>8}"
                  f"{m['server_cpu_ms_per_request']:>16}{m['client_cpu_ms_per_request']:>19}{m['load_before'][0]:>9}")  # fmt: skip
    print(
        f"median req/s at concurrency {CONCURRENCY}, {args.users_per_request} user(s) per request: {summary}"
    )
    print(f"throughput ratio against 1 worker: {ratio} (target {TARGET_RATIO}x for 2 workers)")
    print(f"median of each round's ratio: {paired}")
    print(f"server CPU per request, 1 worker over the others: {cpu_ratio} (1.0 = no extra cost per request)")
    print(
        f"servers' involuntary context switches per 1,000 requests: {out['median_server_involuntary_switches_per_1k_requests']}"
    )
    print(f"load average at the end (uptime): {out['load_at_end']}")
    return 0 if all(r[n]["errors"] == 0 for r in rounds for n in layouts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
