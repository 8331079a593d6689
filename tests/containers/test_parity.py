"""Each image's venv and command, run here: trainer -> models volume -> API (Redis) -> dashboard; Space.

Ports and the listen address are swapped for free loopback ones; everything else (sync flags,
command, ENV, health check) is read from the Dockerfiles and the compose file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.artifacts import resolve_current
from tests.conftest import postgres_schema
from tests.containers.conftest import (
    SyncVenv,
    container_env,
    has_module,
    probe_passes,
    resolve,
    running,
    wait_until,
)
from tests.containers.images import interpolate, read_compose, read_dockerfile, with_options
from tests.services.api.conftest import free_port, sample_users
from tests.services.space.conftest import alive, children_of, kill_quietly, zombies_of

pytestmark = pytest.mark.slow

API = read_dockerfile("Dockerfile.api")
DASHBOARD = read_dockerfile("Dockerfile.dashboard")
SPACE = read_dockerfile("Dockerfile")
# Small but real: the trainer's own settings shrink the boosters so the run takes seconds.
TRAIN_ENV = {"UPLIFT_TRAIN_ROWS": "20000"}
SMALL_MODELS = {"UPLIFT_MAX_TREES": "40", "UPLIFT_RANKER_TREES": "20"}


def compose_service(name: str) -> dict:
    return interpolate(read_compose()["services"][name], TRAIN_ENV)


def swap_port(probe: list[str], ports: dict[int, int]) -> list[str]:
    out = probe
    for inside, outside in ports.items():
        out = [a.replace(f":{inside}/", f":{outside}/") for a in out]
    return out


@pytest.fixture(scope="module")
def compose_root(tmp_path_factory: pytest.TempPathFactory, sync_venv: SyncVenv) -> Path:
    """The trainer service's run: its image's venv and compose command, writing the `models` volume."""
    root = tmp_path_factory.mktemp("compose")
    venv = sync_venv(API.venv_flags("trainer"))
    service = compose_service("trainer")
    env = container_env(root, venv, API.env("trainer"), service["environment"], SMALL_MODELS)
    (root / "app" / "models").mkdir(parents=True)
    argv = resolve([str(a) for a in service["command"]], venv, root)
    with running(argv, env, root / "app") as proc:
        assert proc.wait(300) == 0, "the trainer service's command failed"
    return root


@pytest.fixture(scope="module")
def api_url(compose_root: Path, sync_venv: SyncVenv, redis_url: str) -> Iterator[str]:
    venv = sync_venv(API.venv_flags("api"))
    service = compose_service("api")
    # The compose network's `redis` and `postgres` hosts are the test's servers here; a namespace and
    # a schema of this module keep runs apart.
    bandit = {"UPLIFT_BANDIT_URL": redis_url, "UPLIFT_BANDIT_NAMESPACE": f"parity-{uuid.uuid4().hex[:8]}"}
    with postgres_schema() as log_url:
        env = container_env(
            compose_root, venv, API.env("api"), service["environment"], bandit | {"UPLIFT_LOG_URL": log_url}
        )
        yield from _serve(compose_root, venv, service, env)


def _serve(compose_root: Path, venv: Path, service: dict[str, Any], env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    argv = with_options([str(a) for a in service["command"]], host="127.0.0.1", port=str(port))
    probe = swap_port(API.stage("api").healthcheck() or [], {8000: port})
    with running(resolve(argv, venv, compose_root), env, compose_root / "app") as proc:
        wait_until(lambda: probe_passes(venv, probe, env), proc, 60, "the API image's HEALTHCHECK")
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/ready").status_code == 200, proc, 60, "/ready")
        yield url
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status shows it.
        assert proc.wait(10) in (0, -signal.SIGTERM)


def test_trainer_service_publishes_a_seeded_model(compose_root: Path, sync_venv: SyncVenv) -> None:
    _, manifest = resolve_current(compose_root / "app" / "models")
    assert manifest.data.seed == 7 and manifest.data.rows == 20000
    venv = sync_venv(API.venv_flags("trainer"))
    assert has_module(venv, "onnxmltools") and not has_module(venv, "fastapi")
    assert not has_module(venv, "streamlit") and not has_module(venv, "pytest")


def test_api_image_serves_the_trained_model_with_redis(
    api_url: str, compose_root: Path, sync_venv: SyncVenv
) -> None:
    ready = httpx.get(f"{api_url}/ready").json()
    assert ready["store"] == "redis"
    users = sample_users(compose_root / "app" / "models", 3)
    res = httpx.post(f"{api_url}/predict", json={"users": users})
    assert res.status_code == 200 and len(res.json()["predictions"]) == 3
    bad = httpx.post(f"{api_url}/predict", json={"users": [{"user_id": "u", "features": {}}]})
    assert bad.status_code == 422
    venv = sync_venv(API.venv_flags("api"))
    assert has_module(venv, "uvicorn") and not has_module(venv, "matplotlib")
    assert not has_module(venv, "streamlit") and not has_module(venv, "pytest")


def test_dashboard_image_answers_against_the_api(api_url: str, sync_venv: SyncVenv, tmp_path: Path) -> None:
    venv = sync_venv(DASHBOARD.venv_flags("dashboard"))
    service = compose_service("dashboard")
    port = free_port()
    env = container_env(tmp_path, venv, DASHBOARD.env("dashboard"), service["environment"])
    env["UPLIFT_API_URL"] = api_url  # compose's http://api:8000, as this machine reaches it
    argv = with_options([str(a) for a in service["command"]], host="127.0.0.1", port=str(port))
    probe = swap_port(DASHBOARD.stage("dashboard").healthcheck() or [], {8501: port})
    with running(resolve(argv, venv, tmp_path), env, tmp_path / "app") as proc:
        wait_until(lambda: probe_passes(venv, probe, env), proc, 60, "the dashboard image's HEALTHCHECK")
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        assert time.monotonic() - started < 10
    assert has_module(venv, "streamlit") and not has_module(venv, "fastapi")
    assert not has_module(venv, "onnxmltools") and not has_module(venv, "pytest")


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) with a socket listening on `port`."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(address)
    return found


def as_pid_one(argv: list[str]) -> tuple[list[str], bool]:
    """`argv` as PID 1 of a new PID namespace, as in a container, with an orphan to adopt and reap."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--pid", "--fork", "true"], check=False).returncode != 0:
        return argv, False  # no namespaces for this user: still a real run, minus the PID-1 part
    # The subshell's `sleep` is orphaned at once; the kernel re-parents it to PID 1, the supervisor.
    return [unshare, "--pid", "--fork", "sh", "-c", '(sleep 1 &); exec "$@"', "sh", *argv], True


def test_space_image_runs_both_as_pid_one_and_stops_on_sigterm(
    compose_root: Path, sync_venv: SyncVenv, tmp_path: Path
) -> None:
    venv = sync_venv(SPACE.venv_flags("space"))
    # The build's `artifacts` stage runs the trainer image's venv and command: the compose trainer's run.
    shutil.copytree(compose_root / "app" / "models", tmp_path / "app" / "models")
    port, api_port = free_port(), free_port()
    env = container_env(tmp_path, venv, SPACE.env("space"))
    argv = with_options(SPACE.stage("space").cmd(), host="127.0.0.1", port=str(port), api_port=str(api_port))
    probe = swap_port(SPACE.stage("space").healthcheck() or [], {7860: port, 8000: api_port})
    command, pid_one = as_pid_one(resolve(argv, venv, tmp_path))
    kids: list[int] = []
    with running(command, env, tmp_path / "app") as proc:
        supervisor = proc.pid
        try:
            wait_until(lambda: probe_passes(venv, probe, env), proc, 90, "the Space image's HEALTHCHECK")
            if pid_one:
                (supervisor,) = children_of(proc.pid)  # unshare's child: PID 1 inside the namespace
            assert httpx.get(f"http://127.0.0.1:{api_port}/ready").json()["status"] == "ready"
            assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
            assert listening_addresses(api_port) == {"0100007F"}  # the API on 127.0.0.1 only
            kids = children_of(supervisor)
            assert len(kids) == 2 and zombies_of(supervisor) == []  # the adopted orphan was reaped
            started = time.monotonic()
            os.kill(supervisor, signal.SIGTERM)  # what `docker stop` sends to PID 1
            assert proc.wait(10) == 0
            assert time.monotonic() - started < 10
            assert [k for k in kids if alive(k)] == []  # both stopped
        finally:
            for k in [supervisor, *kids]:
                if alive(k):
                    kill_quietly(k)
