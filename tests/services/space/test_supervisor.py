"""`uplift space` with real child processes: bad options, an API that fails, one that never gets
ready, and a child that dies while both run. (SIGTERM on the Space image: tests/containers.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app
from tests.services.api.conftest import free_port
from tests.services.space.conftest import alive, children_of, kill_quietly


def start_space(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], int, int]:
    port, api_port = free_port(), free_port()
    cmd = [
        sys.executable,
        "-m",
        "services.cli",
        "space",
        "--port",
        str(port),
        "--api-port",
        str(api_port),
        *args,
    ]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    return proc, port, api_port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port: must be between 1 and 65535, got 0"),
        (["--api-port", "70000"], "--api-port: must be between 1 and 65535, got 70000"),
        (["--port", "9000", "--api-port", "9000"], "--api-port: must differ from --port (9000)"),
        (["--ready-timeout", "0"], "--ready-timeout: must be positive, got 0.0"),
    ],
)
def test_bad_options_exit_2_naming_the_option(args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["space", *args])
    assert res.exit_code == 2
    assert f"error: {message}" in res.output


def test_an_api_that_cannot_start_ends_the_space_with_its_code(tmp_path: Path) -> None:
    proc, _, _ = start_space({"UPLIFT_MAX_BATCH": "0", "UPLIFT_DATA_DIR": str(tmp_path)})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "UPLIFT_MAX_BATCH" in err and "space: api exited with code 2" in err
    assert "dashboard starting" not in err


def test_an_api_never_ready_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    env = {"UPLIFT_MODELS_DIR": str(tmp_path / "empty"), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    proc, _, api_port = start_space(env, "--ready-timeout", "8")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "space: api not ready after 8 s" in err
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2)  # the API was stopped too


@pytest.mark.slow
def test_a_child_that_dies_takes_the_other_down(trained_models: Path, tmp_path: Path) -> None:
    env = {"UPLIFT_MODELS_DIR": str(trained_models), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    proc, port, api_port = start_space(env)
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not _answers(f"http://127.0.0.1:{port}/_stcore/health"):
            assert proc.poll() is None and time.monotonic() < deadline, "the Space did not come up"
            time.sleep(0.3)
        kids = children_of(proc.pid)
        api = next(k for k in kids if str(api_port) in Path(f"/proc/{k}/cmdline").read_text())
        os.kill(api, signal.SIGKILL)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 128 + signal.SIGKILL
        assert "space: api exited with code -9; stopping the rest" in err
        assert [k for k in kids if alive(k)] == []  # the dashboard was stopped too
    finally:
        for k in kids:
            kill_quietly(k)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
