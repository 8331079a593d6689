"""What every trainer command shares: the one-line error convention, option checks, progress, settings."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from shared.shape_names import SHAPES, shapes_help

SHAPE_OPTION_HELP = f"Synthetic market shape, one of {' | '.join(SHAPES)}. {shapes_help()}"


def fail(message: str) -> typer.Exit:
    """One clear line on stderr and exit code 2, the convention for a bad invocation."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _check_out_parent(path: Path, option: str) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise fail(f"{option}: parent folder {parent} does not exist")


def _check_shape(value: str) -> None:
    if value not in SHAPES:
        raise fail(f"--shape: must be one of {', '.join(SHAPES)}, got {value!r}")


def _check_share(value: float, option: str) -> None:
    if not 0.0 < value < 1.0:
        raise fail(f"{option}: must be strictly between 0 and 1, got {value}")


def _progress() -> Any:
    from rich.console import Console

    console = Console(stderr=True)
    started = time.perf_counter()

    def report(step: str) -> None:
        console.log(f"[{time.perf_counter() - started:6.1f}s] {step} …")

    return report


def _split_names(values: list[str] | None) -> list[str]:
    """Repeated options and comma-separated lists both work: `--exclude a,b --exclude c`."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _settings(n_jobs: int | None) -> Any:
    from pydantic import ValidationError

    from services.trainer.settings import TrainerSettings

    try:
        settings = TrainerSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise fail(f"UPLIFT_{str(err['loc'][0]).upper()}: {err['msg']}") from exc
    if n_jobs is not None:
        settings = settings.model_copy(update={"n_jobs": n_jobs})
    return settings
