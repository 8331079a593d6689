"""`uplift log export` (the assignment log as Parquet) and `uplift evaluate-policy` (off-policy estimates)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated

import typer

from services.trainer.commands import fail

LOG_URL_HELP = (
    "Assignment log URL: sqlite:///path or postgresql://user@host:5432/db. Default: $UPLIFT_LOG_URL, "
    "else the API's embedded log sqlite:///$UPLIFT_DATA_DIR/assignments.db (UPLIFT_DATA_DIR defaults to var)."
)


def default_log_url() -> str:
    """$UPLIFT_LOG_URL, else the SQLite file beside the API's bandit.db in its data dir."""
    url = os.environ.get("UPLIFT_LOG_URL", "")
    return url or f"sqlite:///{Path(os.environ.get('UPLIFT_DATA_DIR', 'var')) / 'assignments.db'}"


def export(
    out: Annotated[
        Path, typer.Option(help="Parquet file to write: every assignment joined with its reward.")
    ],
    log: Annotated[str | None, typer.Option(help=LOG_URL_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Export the assignment log (assignments joined with rewards) to a Parquet file."""
    from shared.assignment_log import open_log

    if out.exists() and not force:
        raise fail(f"--out: {out} exists; pass --force to replace it")
    if not out.resolve().parent.is_dir():
        raise fail(f"--out: parent folder {out.resolve().parent} does not exist")
    url = log or default_log_url()
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise fail(
            f"--log: no assignment log at {url.removeprefix('sqlite:///')} (nothing was logged there yet)"
        )
    try:
        handle = open_log(url)
    except (ValueError, ConnectionError) as exc:
        raise fail(f"--log: {exc}") from exc
    try:
        rows = handle.export(out)
    finally:
        handle.close()
    typer.echo(f"wrote {rows} assignments to {out}")


def _format(estimate: dict) -> str:
    level = round(100 * estimate["level"])
    return (
        f"{estimate['estimator']:>5} {estimate['value']:9.5f}  [{estimate['low']:.5f}, {estimate['high']:.5f}] "
        f"({level}%)  ESS {estimate['ess']:.0f}"
    )


def evaluate_policy(
    log: Annotated[Path, typer.Option(help="Parquet export of the assignment log (`uplift log export`).")],
    models: Annotated[
        list[Path] | None,
        typer.Option(help="A models folder (its current version) or a version folder; repeat for several."),
    ] = None,
    value: Annotated[
        float, typer.Option(help="Value of one conversion, for the models' greedy policy.")
    ] = 1.0,
    cost: Annotated[float, typer.Option(help="Cost of one treatment, for the models' greedy policy.")] = 0.0,
    control: Annotated[str, typer.Option(help="The log's control arm.")] = "control",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples per interval (>= 2).")] = 1000,
    level: Annotated[float, typer.Option(help="Interval coverage, in (0, 1).")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap; printed with the results.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """IPS, self-normalized IPS and doubly robust estimates of the mean reward per user of treat-all,
    treat-none, the logged policy and each model's greedy policy, with bootstrap intervals and ESS."""
    from services.policy.evaluation import evaluate_log, load_log, model_outcomes
    from shared.artifacts import MANIFEST, ArtifactError
    from shared.bundle import ModelBundle

    if not log.is_file():
        raise fail(f"--log: {log} is not a file")
    for name, number in (("--value", value), ("--cost", cost)):
        if not math.isfinite(number) or number < 0:
            raise fail(f"{name}: must be a finite number >= 0, got {number}")
    if bootstrap < 2:
        raise fail(f"--bootstrap: must be at least 2, got {bootstrap}")
    if not 0 < level < 1:
        raise fail(f"--level: must be in (0, 1), got {level}")
    try:
        data = load_log(log, control)
        outcomes = []
        for folder in models or []:
            if not folder.is_dir():
                raise ValueError(f"--models: {folder} is not a folder")
            bundle = (
                ModelBundle.load_version(folder, use_onnx=False)
                if (folder / MANIFEST).is_file()
                else ModelBundle.load_current(folder, use_onnx=False)
            )
            outcomes.append((bundle.version, model_outcomes(bundle, data)))
        reports = evaluate_log(
            data, outcomes, value=value, cost=cost, n_bootstrap=bootstrap, level=level, seed=seed
        )
    except ArtifactError as exc:
        raise fail(f"--models: {exc}") from exc
    except ValueError as exc:
        message = str(exc)
        raise fail(message if message.startswith("--") else f"--log: {message}") from exc
    policies = [r.to_dict() for r in reports]
    result = {
        "log": str(log),
        "rows": len(data.frame),
        "unrewarded_rows_dropped": data.dropped_unrewarded,
        "arms": data.arms,
        "seed": seed,
        "policies": policies,
    }
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(
        f"{len(data.frame)} rewarded assignments ({data.dropped_unrewarded} without reward left out), "
        f"arms {', '.join(data.arms)}; mean reward per user under each policy; bootstrap seed {seed}"
    )
    for report in policies:
        typer.echo(f"\n{report['policy']}  (DR direct method: {report['direct_method']})")
        for estimate in report["estimates"]:
            typer.echo("  " + _format(estimate))
            for warning in estimate["warnings"]:
                typer.echo(f"        warning: {warning}")
        for note in report["notes"]:
            typer.echo(f"  note: {note}")


def register(app: typer.Typer) -> None:
    log_app = typer.Typer(help="The assignment log.", no_args_is_help=True)
    log_app.command("export")(export)
    app.add_typer(log_app, name="log")
    app.command("evaluate-policy")(evaluate_policy)
