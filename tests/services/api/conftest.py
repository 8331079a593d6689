import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.api.settings import ApiSettings
from shared.artifacts import resolve_current, set_current


def new_version(models: Path, name: str) -> None:
    """A second version (a copy of the current one under a new name), made current."""
    version_dir, _ = resolve_current(models)
    shutil.copytree(version_dir, models / name)
    raw = json.loads((models / name / "manifest.json").read_text())
    raw["version"] = name
    (models / name / "manifest.json").write_text(json.dumps(raw))
    set_current(models, name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample_users(models_dir: Path, n: int) -> list[dict[str, Any]]:
    version_dir, manifest = resolve_current(models_dir)
    frame = pd.read_parquet(version_dir / "holdout_sample.parquet").head(n)
    feats = manifest.features.names
    return [
        {"user_id": str(r["user_id"]), "features": {k: r[k] for k in feats}}
        for r in frame.astype(object).to_dict(orient="records")
    ]


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(
    argv: list[str],
    env: dict[str, str],
    health_url: str,
    timeout_s: float = 30.0,
    log_path: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """A real child process, yielded once ``health_url`` answers 200, and stopped afterwards.

    With ``log_path``, the child's stderr goes to that file (for tests that read the server's log).
    """
    log = open(log_path, "wb") if log_path is not None else None  # noqa: SIM115 - closed below
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stderr=log)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[3]} did not become healthy (exit code {proc.poll()})")
            time.sleep(0.1)
        yield proc
    finally:
        stop(proc)
        if log is not None:
            log.close()


@contextmanager
def run_api(
    env: dict[str, str],
    port: int | None = None,
    log_path: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `uplift serve` process on a free port; yields (base URL, process) once /ready answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    with running([*argv, *extra_args], env, f"{url}/ready", log_path=log_path) as proc:
        yield url, proc


@contextmanager
def redis_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throwaway redis-server on a free port (so a test may SIGSTOP it); yields (URL, process)."""
    port = free_port()
    data = tmp_path / f"redis-{port}"
    data.mkdir()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data)]
    argv += ["--save", "", "--appendonly", "no", "--logfile", str(data / "redis.log")]
    proc = subprocess.Popen(argv)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(url, socket_timeout=0.5).ping():
                    break
            except redis.RedisError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start (exit code {proc.poll()})")
            time.sleep(0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a test that failed mid-stop leaves it stopped
        stop(proc)


@pytest.fixture()
def settings(trained_models: Path, tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        models_dir=trained_models, data_dir=tmp_path / "var", max_batch=50, max_body_bytes=200_000
    )


@pytest.fixture()
def client(settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="session")
def users(trained_models: Path) -> list[dict[str, Any]]:
    return sample_users(trained_models, 60)
