"""`uplift space`: the single-container demo (API inside, dashboard published)."""

from __future__ import annotations

from typing import Annotated

import typer


def _check_port(value: int, option: str) -> None:
    if not 1 <= value <= 65535:
        typer.echo(f"error: {option}: must be between 1 and 65535, got {value}", err=True)
        raise typer.Exit(2)


def space(
    host: Annotated[str, typer.Option(help="Interface the dashboard binds (0.0.0.0 in the Space image).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Dashboard port, the one the Space publishes.")] = 7860,
    api_port: Annotated[int, typer.Option(help="API port, bound to 127.0.0.1 only.")] = 8000,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the API's /ready before giving up (> 0).")
    ] = 180.0,
) -> None:
    """Run the API and the dashboard under one supervisor (settings from UPLIFT_* variables).

    The API starts first on 127.0.0.1:API_PORT; the dashboard starts once /ready answers.

    SIGTERM or Ctrl-C stops both; if either exits, the other is stopped and the exit code is non-zero.
    """
    _check_port(port, "--port")
    _check_port(api_port, "--api-port")
    if port == api_port:
        typer.echo(f"error: --api-port: must differ from --port ({port})", err=True)
        raise typer.Exit(2)
    if ready_timeout <= 0:
        typer.echo(f"error: --ready-timeout: must be positive, got {ready_timeout}", err=True)
        raise typer.Exit(2)
    from services.space.supervisor import SpaceConfig, run

    raise typer.Exit(run(SpaceConfig(host=host, port=port, api_port=api_port, ready_timeout=ready_timeout)))


def register(app: typer.Typer) -> None:
    app.command()(space)
