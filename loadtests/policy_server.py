"""A real `uplift serve` process for the policy benchmark, and the plain HTTP calls it makes around the stream.

The stream itself goes through the asyncio keep-alive client in ``policy_stream``; these are the
few setup and read-back calls (ready, reload, campaigns), for which urllib is enough.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(port: int, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """(status, parsed JSON body) of one request; a 4xx/5xx is returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw or b"null")
        except json.JSONDecodeError:
            return exc.code, raw.decode(errors="replace")


@contextmanager
def api_server(models: Path, data_dir: Path, log_url: str) -> Iterator[int]:
    """One uvicorn worker serving ``models``' current version on a free port; stopped (SIGTERM) on exit.

    Bandit state and the assignment log go under ``data_dir`` (a fresh folder per run, so no run
    learns from another's feedback).
    """
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "UPLIFT_MODELS_DIR": str(models.resolve()),
        "UPLIFT_DATA_DIR": str(data_dir.resolve()),
        "UPLIFT_LOG_URL": log_url,
        # Store calls wait up to 10 s before a 503 (default 1 s): on this shared 2-core machine a
        # busy neighbour stalls an fsync for over a second now and then; the figures here are about
        # decisions, and bench_latency.py measures the store's speed.
        "UPLIFT_STORE_TIMEOUT_S": "10",
    }
    env.pop("UPLIFT_BANDIT_URL", None)  # the embedded store: a benchmark must not touch a shared Redis
    cmd = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"uplift serve exited with {proc.returncode} before /ready") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {port} not ready after 180 s") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def uplift(*args: str, quiet: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run one `uplift` command (this interpreter; the checkout in ``cwd``, default this one); raise with
    its stderr tail on failure."""
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, check=False, cwd=cwd
    )
    if run.returncode != 0:
        raise RuntimeError(f"uplift {' '.join(args)} exited {run.returncode}: {run.stderr[-1500:]}")
    if not quiet:
        print(run.stdout.rstrip())
    return run


def supports(command: list[str], option: str) -> bool:
    """Whether `uplift <command> --help` lists ``option`` (features other branches add land over time)."""
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "250"},
    )
    return run.returncode == 0 and option in run.stdout
