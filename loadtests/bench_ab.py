"""A/B latency: two checkouts of this repo served in alternation, each round a fresh server for each.

On a shared VM whose speed moves by tens of percent from minute to minute, two figures taken ten
minutes apart compare the machine as much as the code. Alternating A and B, round after round,
compares them under the same conditions; the rounds show how much the machine itself moved.

    git worktree add /tmp/base <ref>
    uv run python loadtests/bench_ab.py --a /tmp/base --b . --models /tmp/bm/models --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_latency import (
    POLICY,
    free_port,
    request_bytes,
    scenario,
    users_from,
)  # this folder, run as a script

# (name, concurrency, requests): the scenarios behind the targets, and the lone client.
SCENARIOS = (
    ("predict_1", 1, 2000),
    ("predict_1", 8, 3000),
    ("predict_1", 32, 3000),
    ("optimize_1", 1, 1500),
    ("optimize_1", 8, 2000),
    ("predict_1000", 1, 100),
)


def _serve(checkout: Path, models: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "UPLIFT_MODELS_DIR": str(models),
        "UPLIFT_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(checkout),
    }
    argv = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(argv, env=env, cwd=checkout)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{checkout}: the server did not become ready") from None
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--a", type=Path, required=True, help="checkout A (e.g. a git worktree of the base)")
    parser.add_argument("--b", type=Path, default=Path("."), help="checkout B (default: this one)")
    parser.add_argument("--models", type=Path, required=True, help="models folder both serve")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds: must be at least 1, got {args.rounds}")
    for name in ("a", "b"):
        if not (getattr(args, name) / "services" / "cli.py").is_file():
            parser.error(f"--{name}: {getattr(args, name)} is not a checkout of this repo")
    users = users_from(args.models, 1000)
    bodies = {
        "predict_1": [request_bytes("/predict", {"users": [u]}) for u in users],
        "optimize_1": [
            request_bytes("/optimize", {"users": [u], "policy": {**POLICY, "seed": i}})
            for i, u in enumerate(users)
        ],
        "predict_1000": [request_bytes("/predict", {"users": users})],
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            for label, checkout in (("A", args.a.resolve()), ("B", args.b.resolve())):
                proc, port = _serve(checkout, args.models, Path(tmp) / f"{label}{rnd}")
                try:
                    time.sleep(1.5)  # the warm-up thread (boosters, pair scorer) finishes first
                    for name, conc, total in SCENARIOS:
                        r = scenario(proc.pid, port, bodies[name], conc, total)
                        rows.append({"round": rnd, "checkout": label, "scenario": name, **r})
                finally:
                    proc.terminate()
                    proc.wait(10)
                mine = [r for r in rows if r["round"] == rnd and r["checkout"] == label]
                print(
                    rnd,
                    label,
                    " | ".join(
                        f"{r['scenario']} c{r['concurrency']}: p99 {r['p99_ms']:.2f} ms, "
                        f"cpu {r['server_cpu_ms_per_request']:.3f} ms"
                        for r in mine
                    ),
                    flush=True,
                )
    if args.json is not None:
        args.json.write_text(json.dumps({"a": str(args.a), "b": str(args.b), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
