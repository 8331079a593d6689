"""Campaign pacing benchmark: a real API, a campaign whose budget covers a fraction of what the policy
would treat, and a stream of users one per request. Prints the share of the budget spent at each fifth
of the stream (against the pacing target) and at the end, and the most ever committed (spent +
reserved) against the budget, which must never exceed it.

    UPLIFT_N_JOBS=1 OMP_NUM_THREADS=1 nice -n 5 uv run --frozen python loadtests/bench_pacing.py \
        --users 4000 --budget 300 --concurrency 4

Pacing by expected users (default) or by time (``--pace-by time --seconds 60``: users arrive at a
steady rate over the campaign's duration). Trains a small model first unless --models is given.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from shared.artifacts import resolve_current

TARGETS = {"spent_share_at_end_min": 0.9, "committed_share_max": 1.0}


def users_from(models: Path, n: int) -> list[dict[str, Any]]:
    """``n`` users: the holdout sample's feature rows, cycled under fresh ids."""
    version_dir, manifest = resolve_current(models)
    frame = pd.read_parquet(version_dir / "holdout_sample.parquet")
    rows = frame[manifest.features.names].astype(object).to_dict(orient="records")
    return [{"user_id": f"b{i}", "features": rows[i % len(rows)]} for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(argv: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    """`uplift serve` as a child process until the block ends; waits for /ready (120 s at most)."""
    proc = subprocess.Popen(argv, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the API did not become ready (exit code {proc.poll()})")
            time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def train(out: Path, seed: int) -> Path:
    argv = [
        sys.executable,
        "-m",
        "services.cli",
        "train",
        "--rows",
        "20000",
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]
    subprocess.run(argv, check=True, env={**os.environ, "UPLIFT_LEARNER": "t"}, stdout=subprocess.DEVNULL)
    return out


def stream(
    url: str, cid: str, users: list[dict[str, Any]], concurrency: int, seconds: float | None
) -> dict[str, Any]:
    """Send every user once (one per request), checking the ledger as it goes; figures per fifth."""
    n, fifths, peak, late = len(users), [], [0.0], [0]
    stop = threading.Event()
    start = time.monotonic()

    def watch() -> None:
        with httpx.Client(timeout=60) as c:
            while not stop.is_set():
                got = c.get(f"{url}/campaigns/{cid}").json()
                peak[0] = max(peak[0], got["spend"] + got["reserved"])
                time.sleep(0.05)

    def send(i: int) -> int:
        if seconds is not None:  # a steady arrival rate over (nearly all of) the campaign's time
            time.sleep(max(0.0, start + 0.98 * seconds * i / n - time.monotonic()))
        res = client.post(f"{url}/optimize", json={"users": [users[i]], "campaign_id": cid})
        if res.status_code == 409 and seconds is not None:
            late[0] += 1  # arrived after ends_at: the campaign takes no more
            return 0
        res.raise_for_status()
        d = res.json()["decisions"][0]
        return int(d["arm"] in d["effects"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with (
        httpx.Client(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client,
        ThreadPoolExecutor(concurrency) as pool,
    ):
        for k in range(5):
            chunk = range(k * n // 5, (k + 1) * n // 5)
            treated = sum(pool.map(send, chunk))
            got = client.get(f"{url}/campaigns/{cid}").json()
            fifths.append(
                {
                    "fifth": k + 1,
                    "users": got["users"],
                    "treated_in_fifth": treated,
                    "spent_share": got["spend"] / got["budget"],
                    "target_share": got["progress"],
                    "throttle": got["throttle"],
                }
            )
    stop.set()
    watcher.join()
    wall = round(time.monotonic() - start, 1)
    return {"fifths": fifths, "peak_committed": peak[0], "wall_s": wall, "refused_after_end": late[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, help="A models folder; default: train a 20k-user one first.")
    ap.add_argument("--users", type=int, default=4000)
    ap.add_argument("--budget", type=float, default=300.0)
    ap.add_argument("--cost", type=float, default=1.0)
    ap.add_argument("--value", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--pace-by", choices=["users", "time"], default="users")
    ap.add_argument(
        "--seconds", type=float, default=60.0, help="The campaign's duration with --pace-by time."
    )
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=7, help="Seed of the trained market.")
    ap.add_argument("--out", type=Path, default=Path("loadtests/results/pacing.json"))
    args = ap.parse_args()
    for name in ("users", "concurrency", "workers"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name}: must be at least 1")
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        models = args.models or train(Path(tmp) / "models", args.seed)
        users = users_from(models, args.users)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "UPLIFT_MODELS_DIR": str(models),
            "UPLIFT_DATA_DIR": str(Path(tmp) / "var"),
            "UPLIFT_STORE_TIMEOUT_S": "15",
        }
        argv = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
        argv += ["--workers", str(args.workers)]
        with serving(argv, env, f"{url}/ready"):
            body: dict[str, Any] = {
                "name": "bench", "budget": args.budget, "cost_per_treatment": args.cost, "value_per_conversion": args.value,
            }  # fmt: skip
            if args.pace_by == "users":
                body["expected_users"] = args.users
            else:
                body["ends_at"] = (datetime.now(UTC) + timedelta(seconds=args.seconds)).isoformat()
            cid = httpx.post(f"{url}/campaigns", json=body, timeout=60).json()["campaign_id"]
            run = stream(url, cid, users, args.concurrency, args.seconds if args.pace_by == "time" else None)
            final = httpx.get(f"{url}/campaigns/{cid}", timeout=60).json()
    report = {
        "command": " ".join(sys.argv),
        "pace_by": args.pace_by,
        "users": args.users,
        "budget": args.budget,
        "cost_per_treatment": args.cost,
        "value_per_conversion": args.value,
        "concurrency": args.concurrency,
        "workers": args.workers,
        **run,
        "spent_share_at_end": final["spend"] / args.budget,
        "committed_share_max": run["peak_committed"] / args.budget,
        "treated": final["treated"],
        "targets": TARGETS,
    }
    report["checks"] = {
        "spent_share_at_end_min": report["spent_share_at_end"] >= TARGETS["spent_share_at_end_min"],
        "committed_share_max": report["committed_share_max"] <= TARGETS["committed_share_max"],
    }
    for f in run["fifths"]:
        print(
            f"fifth {f['fifth']}: users {f['users']:>6}  spent {f['spent_share']:6.1%} of budget "
            f"(target {f['target_share'] if f['target_share'] is None else format(f['target_share'], '.1%')})  "
            f"treated in fifth {f['treated_in_fifth']:>5}  throttle {f['throttle']:.2f}"
        )
    print(
        f"end: spent {report['spent_share_at_end']:.1%} of the budget (target >= 90%), most ever committed "
        f"{report['committed_share_max']:.1%} (must be <= 100%), {report['treated']} treated, {run['wall_s']} s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
