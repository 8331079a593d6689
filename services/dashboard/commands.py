"""`uplift dashboard` and `uplift up` (API and dashboard in one process tree)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

APP_PATH = Path(__file__).resolve().parent / "app.py"
READY_TIMEOUT_SECONDS = 120


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _check_port(port: int, option: str) -> None:
    if not 1 <= port <= 65535:
        raise _fail(f"{option}: must be between 1 and 65535, got {port}")


def _check_settings() -> None:
    from pydantic import ValidationError

    from services.dashboard.settings import DashboardSettings

    try:
        DashboardSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _fail(f"UPLIFT_{str(err['loc'][0]).upper()}: {err['msg']}") from exc


def streamlit_argv(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
    ]  # fmt: skip


def _default_port() -> int:
    from services.dashboard.settings import DashboardSettings

    return DashboardSettings().dashboard_port


def dashboard(
    port: Annotated[
        int | None, typer.Option(help="TCP port (default: UPLIFT_DASHBOARD_PORT, else 8501).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
) -> None:
    """Run the Streamlit dashboard (API address and key from UPLIFT_API_URL / UPLIFT_API_KEY)."""
    _check_settings()
    port = port if port is not None else _default_port()
    _check_port(port, "--port")
    # Streamlit takes over this process: its own signal handling then stops it cleanly.
    os.execv(sys.executable, streamlit_argv(host, port))


def _train_if_missing(models_dir: Path, rows: int, seed: int) -> None:
    if (models_dir / "CURRENT").exists():
        return
    typer.echo(f"up: no model in {models_dir}; training one on {rows:,} synthetic users (seed {seed}) first")
    cmd = [sys.executable, "-m", "services.cli", "train", "--out", str(models_dir)]
    models_dir.mkdir(parents=True, exist_ok=True)
    if subprocess.run([*cmd, "--rows", str(rows), "--seed", str(seed)], check=False).returncode != 0:
        raise _fail("training failed (see above); fix it or train with `uplift train` first")


def _wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _fail(f"the API exited with code {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise _fail(f"the API at {url} was not ready after {READY_TIMEOUT_SECONDS} s")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _sigterm_as_interrupt(signum: int, _: FrameType | None) -> None:
    raise KeyboardInterrupt


def _supervise(procs: list[subprocess.Popen[bytes]]) -> int:
    """Wait until a child exits or we are told to stop; then stop the others. Returns the exit code."""
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.2)
        code = next(p.returncode for p in procs if p.returncode is not None)
    except KeyboardInterrupt:
        code = 0
    finally:
        _stop(procs)
    return code


def up(
    port: Annotated[int, typer.Option(help="Dashboard TCP port.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface the dashboard binds.")] = "127.0.0.1",
    api_port: Annotated[int, typer.Option(help="API TCP port (the API binds 127.0.0.1 only).")] = 8000,
    rows: Annotated[int, typer.Option(help="Synthetic users to train on when no model exists.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Seed of that training run.")] = 7,
    models: Annotated[
        Path | None,
        typer.Option(
            help="Models folder to serve, trained into first if empty (default: UPLIFT_MODELS_DIR or models)."
        ),
    ] = None,
) -> None:
    """API and dashboard together; trains a model first if the models folder has none. Ctrl-C stops both."""
    _check_port(port, "--port")
    _check_port(api_port, "--api-port")
    if port == api_port:
        raise _fail(f"--port: must differ from --api-port ({port})")
    if rows <= 0:
        raise _fail(f"--rows: must be a positive integer, got {rows}")
    if models is not None:
        if models.exists() and not models.is_dir():
            raise _fail(f"--models: {models} is not a folder")
        # Through the environment: the API child and the settings read below both obey it.
        os.environ["UPLIFT_MODELS_DIR"] = str(models.resolve())
    _check_settings()
    from services.api.settings import ApiSettings

    # SIGTERM (docker stop, systemd) then unwinds like Ctrl-C at every stage, so no child outlives us.
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    _train_if_missing(ApiSettings().models_dir, rows, seed)
    api_url = f"http://127.0.0.1:{api_port}"
    cli = [sys.executable, "-m", "services.cli"]
    api = subprocess.Popen([*cli, "serve", "--host", "127.0.0.1", "--port", str(api_port)])
    procs = [api]
    try:
        _wait_ready(api_url, api)
        env = {**os.environ, "UPLIFT_API_URL": api_url}
        procs.append(subprocess.Popen(streamlit_argv(host, port), env=env))
    except BaseException:
        _stop(procs)
        raise
    typer.echo(f"up: API on {api_url}, dashboard on http://{host}:{port} (Ctrl-C stops both)")
    raise typer.Exit(_supervise(procs))


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
    app.command()(up)
