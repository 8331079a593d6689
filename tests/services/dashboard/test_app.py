"""The entry script: a clear banner when the API is unreachable or not ready, and recovery when it returns."""

import os
import subprocess
import sys
import time

import httpx
from streamlit.testing.v1 import AppTest

from tests.services.api.conftest import free_port, run_api, stop
from tests.services.dashboard.conftest import APP, api_env


def _run_app():
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_unreachable_api_shows_a_banner_and_the_page_returns_with_it(trained_models, tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("UPLIFT_API_URL", f"http://127.0.0.1:{port}")
    at = _run_app()
    assert len(at.error) == 1
    assert "API unreachable" in at.error[0].value and f"127.0.0.1:{port}" in at.error[0].value
    assert not at.title  # no page is drawn from missing data
    assert at.button(key="retry").label == "Retry now"

    with run_api(api_env(trained_models, tmp_path / "var"), port=port):
        at.button(key="retry").click().run()
        assert not at.exception
        assert not at.error
        assert [t.value for t in at.title] == ["Policy simulator"]
        assert at.metric  # drawn from the API's answer


def test_api_without_a_model_shows_not_ready(tmp_path, monkeypatch):
    port = free_port()
    env = {**os.environ, **api_env(tmp_path / "empty-models", tmp_path / "var")}
    (tmp_path / "empty-models").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "API did not start"
                time.sleep(0.1)
        monkeypatch.setenv("UPLIFT_API_URL", f"http://127.0.0.1:{port}")
        at = _run_app()
        assert len(at.warning) == 1 and "API not ready" in at.warning[0].value
        assert not at.title
    finally:
        stop(proc)


def test_bad_setting_is_named_on_the_page(monkeypatch):
    monkeypatch.setenv("UPLIFT_API_URL", "ftp://example")
    at = _run_app()
    assert len(at.error) == 1
    assert "UPLIFT_API_URL" in at.error[0].value and "http://" in at.error[0].value
