"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes from the project's env."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DASK = str(Path(sys.executable).with_name("dask"))


@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker and its nanny (its own process group): no goodbye to the scheduler."""
        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait(timeout=30)


def _wait_for(path: Path, seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            try:
                return dict(json.loads(path.read_text()))
            except json.JSONDecodeError:
                pass
        time.sleep(0.2)
    raise TimeoutError(f"{path} was not written within {seconds} s")


def _wait_workers(address: str, n: int, seconds: float) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(n, timeout=seconds)


@contextmanager
def running_cluster(folder: Path, n_workers: int = 2) -> Iterator[Cluster]:
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / "scheduler.json"
    logs = [open(folder / f"{name}.log", "wb") for name in ["scheduler", *map(str, range(n_workers))]]  # noqa: SIM115
    common = {"start_new_session": True, "stderr": subprocess.STDOUT}
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--scheduler-file", str(file), "--port", "0", "--no-dashboard"],
        stdout=logs[0], **common,  # type: ignore[arg-type]
    )  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    try:
        address = str(_wait_for(file, 60)["address"])
        for k in range(n_workers):
            workers.append(
                subprocess.Popen(
                    [
                        DASK,
                        "worker",
                        address,
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--memory-limit",
                        "1.5GB",
                        "--local-directory",
                        str(folder / f"w{k}"),
                    ],
                    stdout=logs[k + 1],
                    **common,  # type: ignore[arg-type]
                )
            )
        _wait_workers(address, n_workers, 90)
        yield Cluster(address, scheduler, workers)
    finally:
        for proc in [*workers, scheduler]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*workers, scheduler]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for log in logs:
            log.close()
