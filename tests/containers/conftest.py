"""Run what an image runs, outside a container: a fresh venv per distinct `uv sync`, a fake /app.

There is no container engine here, so each parity test syncs a new venv with exactly the flags of
the image's project sync (read from its Dockerfile), then starts the image's command with the
image's ENV, its paths moved under a temporary root that stands in for the container's '/'.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.containers.images import ROOT

SyncVenv = Callable[[list[str]], Path]


@pytest.fixture(scope="session")
def sync_venv(tmp_path_factory: pytest.TempPathFactory) -> SyncVenv:
    """`uv sync FLAGS` into a new venv, once per distinct set of flags in the session."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH (.ci/run installs it): parity tests sync fresh venvs with it")
    made: dict[tuple[str, ...], Path] = {}

    def sync(flags: list[str]) -> Path:
        key = tuple(flags)
        if key not in made:
            venv = tmp_path_factory.mktemp("venv") / ".venv"
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_FROZEN")}
            env["UV_PROJECT_ENVIRONMENT"] = str(venv)
            res = subprocess.run(
                [uv, "sync", "--quiet", *flags],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert res.returncode == 0, f"uv sync {' '.join(flags)} failed:\n{res.stderr}"
            made[key] = venv
        return made[key]

    return sync


def has_module(venv: Path, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([venv / "bin" / "python", "-c", code], check=False).returncode == 0


def container_env(root: Path, venv: Path, *layers: dict[str, str | None]) -> dict[str, str]:
    """A clean environment like the container's: absolute paths in ENV are moved under `root`."""
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(root / "home"), "LANG": "C.UTF-8"}
    for layer in layers:
        for key, value in layer.items():
            if key == "PATH" or value is None:
                continue
            env[key] = f"{root}{value}" if value.startswith("/") else value
    (root / "home").mkdir(parents=True, exist_ok=True)
    return env


def resolve(argv: list[str], venv: Path, root: Path) -> list[str]:
    """The image's command with its programs taken from the venv and its absolute paths under `root`."""
    head = str(venv / "bin" / argv[0]) if (venv / "bin" / argv[0]).exists() else argv[0]
    return [head, *(f"{root}{a}" if a.startswith("/app") else a for a in argv[1:])]


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, what: str) -> float:
    """Seconds until `check()` holds; fails if `proc` exits first or time runs out."""
    started = time.monotonic()
    while not check():
        if proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with code {proc.returncode} first")
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def probe_passes(venv: Path, probe: list[str], env: dict[str, str]) -> bool:
    """Run a HEALTHCHECK command (`python -m ...`) with the venv's Python, as the engine would."""
    argv = [str(venv / "bin" / probe[0]), *probe[1:]]
    return subprocess.run(argv, env=env, capture_output=True, check=False).returncode == 0


@contextmanager
def running(argv: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A started process that is stopped (SIGTERM, then SIGKILL) however the test ends."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(argv, env=env, cwd=cwd, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
