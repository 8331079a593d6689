"""`uplift generate` and `uplift score`; `uplift train` lives in services/trainer/train_command.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from services.trainer.cli_common import (
    SHAPE_OPTION_HELP,
    _check_out_parent,
    _check_shape,
    _check_share,
    fail,
)
from services.trainer.drift_option import DRIFT_HELP
from services.trainer.train_command import train

__all__ = ["fail", "generate", "register", "score", "train"]


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
    arms: Annotated[
        int,
        typer.Option(help="Arms incl. control: 2, or 3 to add a discount coupon (true_cate_<arm> columns)."),
    ] = 2,
    shape: Annotated[str, typer.Option(help=SHAPE_OPTION_HELP)] = "hard",
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Instead: a raw clickstream of --rows users (OUT .parquet/.csv) with exposures and truth beside "
            "it, for `uplift prepare`.",
        ),
    ] = False,
    drift: Annotated[str | None, typer.Option(help=DRIFT_HELP)] = None,
) -> None:
    """Write a seeded synthetic market (users with `true_cate`, item catalog, impression log); the
    default is the "hard market", --shape picks another effect of known truth."""
    if rows <= 0:
        raise fail(f"--rows: must be a positive integer, got {rows}")
    if events and drift is not None:
        raise fail("--drift: changes a market's effect; drop it with --events")
    if events:
        _check_share(propensity, "--propensity")
        _check_out_parent(out, "--out")
        from services.events.commands import generate_events

        return generate_events(out, rows, seed, propensity)
    if arms not in (2, 3):
        raise fail(f"--arms: must be 2 or 3, got {arms}")
    _check_shape(shape)
    _check_share(propensity, "--propensity")
    _check_out_parent(out, "--out")
    from services.trainer.drift_option import DriftError, apply_drift, parse_drift
    from shared.synthetic import MarketConfig, generate_market, sibling_paths

    try:
        parsed = parse_drift(drift) if drift is not None else None
    except DriftError as exc:
        raise fail(str(exc)) from exc
    if parsed is not None and arms != 2:
        raise fail("--drift: shifts the one treatment arm's effect; use --arms 2")
    config = MarketConfig(rows=rows, seed=seed, treatment_share=propensity, n_arms=arms, shape=shape)
    market = generate_market(config)
    described = market.describe()
    drift_note = ""
    if parsed is not None:
        try:
            market.users, d = apply_drift(market.users, parsed, seed)
        except DriftError as exc:
            raise fail(str(exc)) from exc
        described["drift"] = d
        drift_note = (
            f"; drift {d['rule']} → logit shift {d['shift']:g} on {d['group_rows']} users "
            f"(redraw seed {d['seed']}, true ATE now {d['true_ate_after']:.4f})"
        )
    catalog_path, impressions_path = sibling_paths(str(out))
    meta = {b"uplift.market": json.dumps(described).encode()}
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(market.users, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), out)
    market.catalog.to_parquet(catalog_path, index=False)
    market.impressions.to_parquet(impressions_path, index=False)
    typer.echo(
        f"wrote {rows} users ({shape} market, outcome {market.outcome}) to {out}, catalog to {catalog_path}, "
        f"impressions to {impressions_path} (seed {seed}){drift_note}"
    )


def score(
    data: Annotated[
        Path, typer.Option(help="Rows to score (.csv, .csv.gz or .parquet) with the model's features.")
    ],
    out: Annotated[
        Path, typer.Option(help="Output file (.parquet or .csv): CATE per arm, segment, chosen arm (+ ID).")
    ],
    models: Annotated[Path, typer.Option(help="Models folder; its current version scores.")] = Path("models"),
    batch_rows: Annotated[
        int, typer.Option(help="Rows per streamed batch (memory grows with it).")
    ] = 100_000,
    min_effect: Annotated[
        float, typer.Option(help="Chosen arm: the best treatment if its effect exceeds this, else control.")
    ] = 0.0,
    n_jobs: Annotated[int, typer.Option(help="XGBoost threads (0 = all cores).")] = 0,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            help="Score a Parquet file, folder or glob on the Dask scheduler at tcp://host:port (or 'local'); "
            "--out is then a folder of part-<file>-<row group>.parquet in input order."
        ),
    ] = None,
) -> None:
    """Batch-score a file in streamed batches with flat memory, with the current model."""
    if batch_rows <= 0:
        raise fail(f"--batch-rows: must be a positive integer, got {batch_rows}")
    if n_jobs < 0:
        raise fail(f"--n-jobs: must not be negative, got {n_jobs}")
    _check_out_parent(out, "--out")
    from services.trainer.ingest import file_format

    if dask_scheduler is not None:
        return _score_dask(dask_scheduler, models, data, out, min_effect)
    from services.trainer.scoring import load_for_batch, score_file
    from services.trainer.validate import DataError
    from shared.artifacts import ArtifactError

    try:
        file_format(out)
    except DataError as exc:  # the reader names --data; here the output file is the culprit
        raise fail(
            f"--out: unknown file type {out.name!r}; use .csv (optionally .gz/.bz2/.zst) or .parquet"
        ) from exc

    try:
        bundle = load_for_batch(models, n_jobs)
        summary = score_file(bundle, data, out, batch_rows=batch_rows, min_effect=min_effect)
    except (ArtifactError, DataError) as exc:
        raise fail(str(exc)) from exc
    if summary.unseen_category_rows:
        typer.echo(
            f"warning: {summary.unseen_category_rows} row(s) had a category unseen at training; "
            "scored with an all-zero one-hot block for that feature (like a missing value)",
            err=True,
        )
    typer.echo(
        f"scored {summary.rows} rows with model {bundle.version} in {summary.seconds:.2f} s "
        f"({summary.rows_per_s:,.0f} rows/s); chosen arms {summary.chosen}; wrote {out}"
    )


def _score_dask(address: str, models: Path, data: Path, out: Path, min_effect: float) -> None:
    from services.trainer.dask_data import ClusterError, connect
    from services.trainer.dask_scoring import score_dask
    from services.trainer.validate import DataError
    from shared.artifacts import ArtifactError

    try:
        client = connect(address)
    except ClusterError as exc:
        raise fail(str(exc)) from exc
    try:
        summary, version, parts = score_dask(client, models, str(data), out, min_effect=min_effect)
    except (ArtifactError, DataError) as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise fail(
            f"--dask-scheduler: scoring failed on the cluster ({type(exc).__name__}: {reason}); nothing written"
        ) from exc
    finally:
        client.close()
    typer.echo(
        f"scored {summary.rows} rows with model {version} in {summary.seconds:.2f} s on the cluster "
        f"({summary.rows_per_s:,.0f} rows/s); chosen arms {summary.chosen}; wrote {parts} parts to {out}"
    )


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(train)
    app.command()(score)
