"""`uplift serve --workers 2`: a reload reaches both workers, /metrics adds up across them, new connections
reach both, SIGTERM stops them, and a killed worker is replaced."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.artifacts import resolve_current
from tests.services.api.conftest import new_version, run_api

pytestmark = pytest.mark.slow


def _predict_total(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("uplift_http_requests_total{") and 'route="/predict"' in line
    )


def _pids_serving(data: Path) -> dict[int, str]:
    out = {}
    for path in (data / "reload").glob("worker-*.json"):
        raw = json.loads(path.read_text())
        out[raw["pid"]] = raw["version"]
    return out


def test_two_workers_agree_after_a_reload_and_metrics_add_up(trained_models, tmp_path, users):
    models, data = tmp_path / "models", tmp_path / "var"
    shutil.copytree(trained_models, models)
    old = resolve_current(models)[0].name
    env = {"UPLIFT_MODELS_DIR": str(models), "UPLIFT_DATA_DIR": str(data)}
    with run_api(env, extra_args=("--workers", "2")) as (url, _):
        deadline = time.monotonic() + 60
        while len(_pids_serving(data)) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.2)
        sent = 200
        for i in range(sent):  # a new connection each: the kernel hands them to either worker
            assert httpx.post(f"{url}/predict", json={"users": [users[i % len(users)]]}).status_code == 200
        for _ in range(6):
            assert _predict_total(httpx.get(f"{url}/metrics").text) == sent

        new_version(models, "v-second")
        res = httpx.post(f"{url}/admin/reload", timeout=60)
        assert res.status_code == 200
        body = res.json()
        assert (body["previous_version"], body["model_version"]) == (old, "v-second")
        assert body["all_workers_serving"] is True
        assert len(body["workers"]) == 2 and {w["version"] for w in body["workers"]} == {"v-second"}
        versions = [httpx.get(f"{url}/ready").json()["model_version"] for _ in range(200)]
        assert set(versions) == {"v-second"}


# --- one listening socket per worker (services.api.workers) ---


def _live_workers(
    data: Path, port: int, timeout_s: float = 60.0, exclude: frozenset[int] = frozenset()
) -> set[int]:
    """The pids of the 2 workers once 2 live ones (not in ``exclude``) have reported (reload sync) and
    listen on ``port``: a worker reports while its app starts, and listens once it has started. A
    killed worker's report stays until a reload prunes it: hence the /proc check."""
    deadline = time.monotonic() + timeout_s
    while True:
        pids = {p for p in _pids_serving(data) if p not in exclude and Path(f"/proc/{p}").exists()}
        listening = _listening_inodes(port)
        if len(pids) == 2 and all(_socket_inodes(p) & listening for p in pids):
            return pids
        assert time.monotonic() < deadline, f"2 live workers did not listen (got {pids})"
        time.sleep(0.2)


def _listening_inodes(port: int) -> set[int]:
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return {int(f[9]) for f in rows if int(f[1].split(":")[1], 16) == port and f[3] == "0A"}


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _socket_inodes(pid: int) -> set[int]:
    out = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed while listed
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def _server_side_inodes(port: int, client_ports: set[int]) -> dict[int, int]:
    """Client port -> inode of the server's end of that loopback connection (from /proc/net/tcp)."""
    out = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, remote_port = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
        if local_port == port and remote_port in client_ports:
            out[remote_port] = int(fields[9])
    return out


def _connections_per_worker(url: str, pids: set[int], users: list[dict[str, Any]]) -> dict[int, int]:
    """16 keep-alive connections opened at once, one /predict each; which worker holds how many."""
    port = _port(url)
    body = json.dumps({"users": [users[0]]}).encode()
    request = (
        f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    conns = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(16)]
    try:
        for c in conns:
            c.sendall(request)
        for c in conns:
            head = c.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
        inodes = _server_side_inodes(port, {c.getsockname()[1] for c in conns})
        assert len(inodes) == 16
        held = {pid: len(_socket_inodes(pid) & set(inodes.values())) for pid in pids}
        assert sum(held.values()) == 16, held  # every connection is held by one of the workers
        return held
    finally:
        for c in conns:
            c.close()


def test_sixteen_connections_opened_at_once_reach_both_workers(trained_models, tmp_path, users):
    data = tmp_path / "var"
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(data)}
    with run_api(env, extra_args=("--workers", "2")) as (url, _):
        held = _connections_per_worker(url, _live_workers(data, _port(url)), users)
        # uvicorn's shared socket gave all 16 to one worker; the kernel's hash gives each some
        # (all 16 to one of 2 by chance: 1 in 32,768).
        assert min(held.values()) >= 1, held


def test_sigterm_stops_every_worker_and_frees_the_port(trained_models, tmp_path):
    data = tmp_path / "var"
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(data)}
    with run_api(env, extra_args=("--workers", "2")) as (url, proc):
        pids = _live_workers(data, _port(url))
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert time.monotonic() - start < 5
        assert not any(Path(f"/proc/{p}").exists() for p in pids)
        with socket.socket() as s:  # no SO_REUSEPORT: fails while any socket listens there
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", _port(url)))
        assert not list((data / "reload").glob("worker-*.json"))  # each worker left cleanly


def test_a_killed_worker_is_replaced_and_the_server_keeps_answering(trained_models, tmp_path, users):
    data = tmp_path / "var"
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(data)}
    with run_api(env, extra_args=("--workers", "2")) as (url, proc):
        victim, survivor = sorted(_live_workers(data, _port(url)))
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{victim}").exists():  # reaped by the supervisor: its socket is closed
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for i in range(50):  # a new connection each, while the replacement starts
            assert httpx.post(f"{url}/predict", json={"users": [users[i % len(users)]]}).status_code == 200
        workers = _live_workers(data, _port(url), exclude=frozenset({victim}))
        assert survivor in workers and proc.poll() is None
        assert min(_connections_per_worker(url, workers, users).values()) >= 1  # the new one serves
