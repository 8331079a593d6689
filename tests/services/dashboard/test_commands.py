"""`uplift dashboard` and `uplift up`: bad options exit 2 with one clear line; `up` runs and stops both parts."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import app
from tests.services.api.conftest import free_port

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["dashboard", "--port", "0"], {}, "error: --port: must be between 1 and 65535, got 0"),
        (
            ["dashboard"],
            {"UPLIFT_API_URL": "localhost:8000"},
            "error: UPLIFT_API_URL: Value error, must start",
        ),
        (["up", "--port", "9100", "--api-port", "9100"], {}, "error: --port: must differ from --api-port"),
        (["up", "--api-port", "70000"], {}, "error: --api-port: must be between 1 and 65535"),
        (["up", "--rows", "0"], {}, "error: --rows: must be a positive integer, got 0"),
    ],
)
def test_bad_options_exit_2_naming_them(args, env, message):
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 2
    assert message in res.output


def _answers(url):
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _up(models_dir, tmp_path, *extra):
    port, api_port = free_port(), free_port()
    env = {**os.environ, "UPLIFT_MODELS_DIR": str(models_dir), "UPLIFT_DATA_DIR": str(tmp_path / "var")}
    log = (tmp_path / "up.log").open("wb")
    cmd = [
        sys.executable,
        "-m",
        "services.cli",
        "up",
        "--port",
        str(port),
        "--api-port",
        str(api_port),
        *extra,
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    urls = (f"http://127.0.0.1:{api_port}/ready", f"http://127.0.0.1:{port}/_stcore/health")
    return proc, urls


def _run_until_both_answer_then_sigterm(proc, urls, timeout):
    try:
        deadline = time.monotonic() + timeout
        while not all(_answers(u) for u in urls):
            assert proc.poll() is None, f"uplift up exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "API and dashboard did not both answer in time"
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not any(_answers(u) for u in urls)  # both children were stopped with it
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_serves_an_existing_model_and_sigterm_stops_both(trained_models, tmp_path):
    proc, urls = _up(trained_models, tmp_path)
    _run_until_both_answer_then_sigterm(proc, urls, timeout=90)
    assert b"training" not in (tmp_path / "up.log").read_bytes()


@pytest.mark.slow
def test_up_trains_first_when_no_model_exists(tmp_path):
    models = tmp_path / "models"
    proc, urls = _up(models, tmp_path, "--rows", "4000", "--seed", "3")
    _run_until_both_answer_then_sigterm(proc, urls, timeout=240)
    assert (models / "CURRENT").exists()
    assert b"training one on 4,000 synthetic users (seed 3)" in (tmp_path / "up.log").read_bytes()
