"""The checks of `uplift train --log` that need no data, and the step that adds the log's rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.trainer.cli_common import fail

__all__ = ["check_log", "with_log"]


def check_log(
    log: Path | None,
    floor: float,
    data: Path | None,
    observational: bool,
    dask_scheduler: str | None,
    external: bool,
) -> None:
    """--log combines an in-memory experiment with the log; every other training path refuses it."""
    if log is None:
        return
    if not 0.0 < floor < 0.5:
        raise fail(f"--propensity-floor: must be strictly between 0 and 0.5, got {floor}")
    if data is None:
        raise fail("--log: needs --data (the experiment the logged traffic is added to)")
    if observational:
        raise fail("--log: contradicts --observational (the log's propensities are known, not estimated)")
    if dask_scheduler is not None or external:
        raise fail(
            "--log: trains in memory only; drop --dask-scheduler/--external-memory (or use a smaller --data)"
        )


def with_log(training: Any, log: Path, floor: float, report: Any) -> Any:
    from services.trainer.from_log import combine
    from services.trainer.validate import DataError

    report(f"add the rewarded rows of {log}")
    try:
        return combine(training, log, floor)
    except DataError as exc:
        raise fail(str(exc)) from exc
