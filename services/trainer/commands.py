"""`uplift generate` and `uplift train`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer


def fail(message: str) -> typer.Exit:
    """One clear line on stderr and exit code 2, the convention for a bad invocation."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _check_out_parent(path: Path, option: str) -> None:
    parent = path.resolve().parent
    if not parent.is_dir():
        raise fail(f"{option}: parent folder {parent} does not exist")


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


def generate(
    out: Annotated[
        Path, typer.Option(help="Parquet file for the users; catalog and impressions are written beside it.")
    ],
    rows: Annotated[int, typer.Option(help="Number of users (> 0).")] = 100_000,
    seed: Annotated[
        int, typer.Option(help="Seed of every random draw; recorded in the output metadata.")
    ] = 7,
    propensity: Annotated[
        float, typer.Option(help="Share of users randomized to treatment, in (0, 1).")
    ] = 0.5,
) -> None:
    """Write a seeded synthetic "hard market" (users with `true_cate`, item catalog, impression log)."""
    if rows <= 0:
        raise fail(f"--rows: must be a positive integer, got {rows}")
    _check_share(propensity, "--propensity")
    _check_out_parent(out, "--out")
    from shared.synthetic import MarketConfig, generate_market, sibling_paths

    market = generate_market(MarketConfig(rows=rows, seed=seed, treatment_share=propensity))
    catalog_path, impressions_path = sibling_paths(str(out))
    meta = {b"uplift.market": json.dumps(market.describe()).encode()}
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(market.users, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), out)
    market.catalog.to_parquet(catalog_path, index=False)
    market.impressions.to_parquet(impressions_path, index=False)
    typer.echo(
        f"wrote {rows} users to {out}, catalog to {catalog_path}, impressions to {impressions_path} (seed {seed})"
    )


def train(
    out: Annotated[
        Path, typer.Option(help="Models folder; a new version is written inside and marked current.")
    ] = Path("models"),
    rows: Annotated[
        int, typer.Option(help="Synthetic users to generate when --data is not given (> 0).")
    ] = 200_000,
    seed: Annotated[
        int, typer.Option(help="Seed for data generation, split and models; recorded in the manifest.")
    ] = 7,
    propensity: Annotated[float, typer.Option(help="Synthetic treatment share, in (0, 1).")] = 0.5,
    lower: Annotated[
        float | None, typer.Option(help="Segment threshold below which a user is a Sleeping Dog.")
    ] = None,
    upper: Annotated[
        float | None, typer.Option(help="Segment threshold above which a user is Persuadable.")
    ] = None,
    n_jobs: Annotated[int | None, typer.Option(help="XGBoost threads (0 = all cores).")] = None,
) -> None:
    """Train the T-Learner and ranker, evaluate on a held-out split, publish `models/<version>/`."""
    if rows <= 0:
        raise fail(f"--rows: must be a positive integer, got {rows}")
    _check_share(propensity, "--propensity")
    _check_out_parent(out, "--out")
    if (lower is None) != (upper is None):
        raise fail("--lower/--upper: give both thresholds or neither (the placebo rule picks them)")
    if lower is not None and upper is not None and lower > upper:
        raise fail(f"--lower: must not exceed --upper ({lower} > {upper})")
    from pydantic import ValidationError

    from services.trainer.data import from_market
    from services.trainer.pipeline import train as run
    from services.trainer.settings import TrainerSettings
    from shared.artifacts import ArtifactError
    from shared.synthetic import MarketConfig, generate_market

    try:
        settings = TrainerSettings()
    except ValidationError as exc:
        err = exc.errors()[0]
        raise fail(f"UPLIFT_{str(err['loc'][0]).upper()}: {err['msg']}") from exc
    if n_jobs is not None:
        settings = settings.model_copy(update={"n_jobs": n_jobs})
    report = _progress()
    report(f"generate synthetic market ({rows} users, seed {seed})")
    data = from_market(generate_market(MarketConfig(rows=rows, seed=seed, treatment_share=propensity)))
    thresholds = (lower, upper) if lower is not None and upper is not None else None
    try:
        result = run(data, out, settings, thresholds=thresholds, progress=report)
    except (ArtifactError, ValueError) as exc:
        raise fail(str(exc)) from exc
    _print_summary(result.metrics)
    typer.echo(f"published {result.path} (current); timings {result.timings}")


def _print_summary(metrics: dict[str, Any]) -> None:
    for arm, res in metrics["arms"].items():
        parts = [f"arm {arm}: qini={res['qini']:.5f}"]
        if "qini_oracle" in res:
            parts.append(f"oracle={res['qini_oracle']:.5f} ratio={res['qini_vs_oracle']:.3f}")
            parts.append(f"pearson={res['pearson_cate_truth']:.3f}")
        parts.append(f"placebo={res['qini_placebo']:.5f}")
        typer.echo(" ".join(parts))
    seg = metrics["segments"]
    typer.echo(f"segments: lower={seg['lower']:.4f} upper={seg['upper']:.4f} shares={seg['shares']}")
    if "vs_truth" in seg:
        vs = seg["vs_truth"]
        typer.echo(
            f"sleeping-dog recall={vs['recall']['Sleeping Dog']:.3f} persuadable precision={vs['precision']['Persuadable']:.3f}"
        )
    if "ranker" in metrics:
        r = metrics["ranker"]
        typer.echo(f"ranker NDCG@10={r['ndcg10_model']:.4f} vs popularity {r['ndcg10_popularity']:.4f}")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(train)
