"""A real API process for the dashboard tests, and a real `uplift dashboard` process for the browser."""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.services.api.conftest import free_port, running

APP = Path(__file__).resolve().parents[3] / "services" / "dashboard" / "app.py"
PAGES = {
    "views/policy_simulator.py": "Policy simulator",
    "views/model_quality.py": "Model quality",
    "views/live_bandit.py": "Live bandit",
    "views/score_user.py": "Score a user",
    "views/experiment_analysis.py": "Experiment analysis",
    "views/funnel.py": "Funnel and daily trend",
}


def api_env(models_dir: Path, data_dir: Path) -> dict[str, str]:
    return {"UPLIFT_MODELS_DIR": str(models_dir), "UPLIFT_DATA_DIR": str(data_dir)}


@contextmanager
def serve_api(env: dict[str, str]) -> Iterator[str]:
    """A real `uplift serve --models DIR` on a free port, given time to start on a busy machine."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(env)
    models = env.pop("UPLIFT_MODELS_DIR")
    argv = [sys.executable, "-m", "services.cli", "serve", "--port", str(port), "--log-level", "warning"]
    argv += ["--models", models]
    with running(argv, env, f"{url}/ready", timeout_s=120):
        yield url


@pytest.fixture(scope="session")
def api_url(trained_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real `uplift serve` for the dashboard tests, with its own bandit store."""
    with serve_api(api_env(trained_models, tmp_path_factory.mktemp("var"))) as url:
        yield url


@pytest.fixture()
def dashboard_env(api_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AppTest runs the app in this process: point its settings at the test API."""
    monkeypatch.setenv("UPLIFT_API_URL", api_url)
    monkeypatch.delenv("UPLIFT_API_KEY", raising=False)
    return api_url


def open_page(page: str) -> AppTest:
    """The app as a visitor opens it, switched to one page and run (no exception allowed)."""
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def chart_descriptions(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec).get("description", "") for c in at.get("vega_lite_chart")]


@contextmanager
def run_dashboard(api_url: str) -> Iterator[str]:
    """A real `uplift dashboard` (streamlit run) process on a free port; yields its URL once healthy."""
    port = free_port()
    argv = [sys.executable, "-m", "services.cli", "dashboard", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with running(argv, {"UPLIFT_API_URL": api_url}, f"{url}/_stcore/health", timeout_s=120):
        yield url
