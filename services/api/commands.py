"""`uplift serve`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model once).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    models: Annotated[
        Path | None,
        typer.Option(
            help="Models folder whose current version is served (default: UPLIFT_MODELS_DIR or models)."
        ),
    ] = None,
) -> None:
    """Serve the inference API (settings from UPLIFT_* environment variables; see /docs)."""
    if not 1 <= port <= 65535:
        typer.echo(f"error: --port: must be between 1 and 65535, got {port}", err=True)
        raise typer.Exit(2)
    if workers < 1:
        typer.echo(f"error: --workers: must be at least 1, got {workers}", err=True)
        raise typer.Exit(2)
    if models is not None:
        if not models.is_dir():
            typer.echo(
                f"error: --models: {models} is not a folder (train one with `uplift train --out`)", err=True
            )
            raise typer.Exit(2)
        # Through the environment: uvicorn's workers build their settings from it.
        os.environ["UPLIFT_MODELS_DIR"] = str(models.resolve())
    # One scoring thread per worker: the server scales by workers, and OpenMP threads inside a
    # one-row predict only contend with each other on a small machine.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    # xgboost imports scikit-learn when it is installed, which costs seconds of start-up here; the
    # API never uses it (the served effect form lives in shared.effect_form), so the server hides it.
    sys.modules.setdefault("sklearn", None)  # type: ignore[arg-type]
    import uvicorn
    from pydantic import ValidationError

    from services.api.settings import ApiSettings

    try:
        settings = ApiSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        typer.echo(f"error: UPLIFT_{str(err['loc'][0]).upper()}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    from services.api import workers as reuse_port

    options = reuse_port.WorkerOptions(
        host=host,
        port=port,
        log_level=log_level,
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_timeout_s,
    )
    if workers > 1:
        _share_between_workers(settings.data_dir)
        # uvicorn's own workers share one listening socket, and a burst of new connections goes to
        # whichever worker accepts first; a socket per worker lets the kernel spread them evenly.
        if reuse_port.reuse_port_available():
            raise typer.Exit(reuse_port.serve(options, workers))
    uvicorn.run(**options.uvicorn_kwargs(), workers=workers)


def _share_between_workers(data_dir: Path) -> None:
    """What several workers of one server share, in folders emptied at start (workers inherit the
    environment): Prometheus multiprocess mode, each worker's samples in files that /metrics sums
    (without it /metrics showed the one worker that answered the scrape; old files would count
    again), and the reload generation the workers follow (services.api.reload_sync). An operator's
    own PROMETHEUS_MULTIPROC_DIR is used as given.
    """
    for var, folder in (("PROMETHEUS_MULTIPROC_DIR", "prometheus"), ("UPLIFT_RELOAD_SYNC_DIR", "reload")):
        if var == "PROMETHEUS_MULTIPROC_DIR" and os.environ.get(var):
            continue
        path = data_dir / folder
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.environ[var] = str(path.resolve())


def register(app: typer.Typer) -> None:
    app.command()(serve)
