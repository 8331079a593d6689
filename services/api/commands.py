"""`uplift serve`."""

from __future__ import annotations

import os
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
    # scikit-learn is not hidden from this process any more: the bundle loads shared.estimators
    # (the served effect forms), whose package imports it; hiding it made `uplift serve` fail.
    import uvicorn
    from pydantic import ValidationError

    from services.api.http_protocol import CoalescingHttpToolsProtocol
    from services.api.settings import ApiSettings

    try:
        ApiSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        typer.echo(f"error: UPLIFT_{str(err['loc'][0]).upper()}: {err['msg']}", err=True)
        raise typer.Exit(2) from exc
    uvicorn.run(
        "services.api.main:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        http=CoalescingHttpToolsProtocol,
    )


def register(app: typer.Typer) -> None:
    app.command()(serve)
