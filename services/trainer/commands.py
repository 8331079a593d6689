"""`uplift generate` and `uplift train`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

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
) -> None:
    """Write a seeded synthetic market (users with `true_cate`, item catalog, impression log); the
    default is the "hard market", --shape picks another effect of known truth."""
    if rows <= 0:
        raise fail(f"--rows: must be a positive integer, got {rows}")
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
    from shared.synthetic import MarketConfig, generate_market, sibling_paths

    config = MarketConfig(rows=rows, seed=seed, treatment_share=propensity, n_arms=arms, shape=shape)
    market = generate_market(config)
    catalog_path, impressions_path = sibling_paths(str(out))
    meta = {b"uplift.market": json.dumps(market.describe()).encode()}
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(market.users, preserve_index=False)
    pq.write_table(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), out)
    market.catalog.to_parquet(catalog_path, index=False)
    market.impressions.to_parquet(impressions_path, index=False)
    typer.echo(
        f"wrote {rows} users ({shape} market, outcome {market.outcome}) to {out}, catalog to {catalog_path}, "
        f"impressions to {impressions_path} (seed {seed})"
    )


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
    arms: Annotated[
        int, typer.Option(help="Synthetic arms incl. control: 2, or 3 to add a discount-coupon arm.")
    ] = 2,
    shape: Annotated[str, typer.Option(help=SHAPE_OPTION_HELP)] = "hard",
    data: Annotated[
        Path | None,
        typer.Option(help="Your experiment log (.csv, .csv.gz or .parquet) instead of synthetic data."),
    ] = None,
    treatment: Annotated[
        str | None, typer.Option(help="With --data: column holding each row's arm (2 or more values).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help="With --data: outcome column (0/1, or an amount such as spend).")
    ] = None,
    control: Annotated[
        str | None, typer.Option(help="With --data: the control arm's value (default: the arm 0).")
    ] = None,
    features: Annotated[
        list[str] | None,
        typer.Option(
            help="With --data: feature columns, comma-separated or repeated (default: all other columns)."
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            help="With --data: columns never used (IDs, post-treatment outcomes), comma-separated or repeated."
        ),
    ] = None,
    categorical: Annotated[
        list[str] | None,
        typer.Option(
            help="With --data: numeric-looking columns to treat as categories, comma-separated or repeated."
        ),
    ] = None,
    id_column: Annotated[
        str | None, typer.Option(help="With --data: row ID column (checked unique, never a feature).")
    ] = None,
    outcome_kind: Annotated[
        str, typer.Option(help="auto (0/1 → binary, other numbers → continuous), binary or continuous.")
    ] = "auto",
    expected_split: Annotated[
        str | None,
        typer.Option(
            help='Designed arm shares for the SRM check, e.g. "No E-Mail=1,Mens E-Mail=1" (default: even).'
        ),
    ] = None,
    fail_on_srm: Annotated[
        bool, typer.Option(help="Fail (instead of warn) when the arm counts mismatch the expected split.")
    ] = False,
    lower: Annotated[
        float | None, typer.Option(help="Segment threshold below which a user is a Sleeping Dog.")
    ] = None,
    upper: Annotated[
        float | None, typer.Option(help="Segment threshold above which a user is Persuadable.")
    ] = None,
    n_jobs: Annotated[int | None, typer.Option(help="XGBoost threads (0 = all cores).")] = None,
    learner: Annotated[
        str | None,
        typer.Option(
            help="auto (cross-fitted choice among every learner that fits the data, or an average of the best) "
            "or one of t (T-learner), s (S-learner), x (X-learner), dr (DR-learner), r (R-learner), "
            "ct (class transformation: binary outcome, two arms). Default: UPLIFT_LEARNER, else auto."
        ),
    ] = None,
    folds: Annotated[int, typer.Option(help="Cross-fitting folds of the learner selection (2-10).")] = 3,
    require_signal: Annotated[
        bool,
        typer.Option(
            help="Exit 1 without publishing when the held-out Qini is not above random and the placebo refit."
        ),
    ] = False,
    observational: Annotated[
        bool,
        typer.Option(
            "--observational",
            help="The arms were NOT randomized: estimated propensities, overlap trimming, AIPW average effect, "
            "refutations and E-value; learners dr (auto), x or r; no SRM check. Without --data: a confounded "
            "synthetic table (binary, or --outcome-kind continuous).",
        ),
    ] = False,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --data (Parquet file, folder or glob, or CSV): fit T/DR with xgboost.dask on the Dask "
            "scheduler at tcp://host:port, or 'local' for a 2-worker LocalCluster."
        ),
    ] = None,
    external_memory: Annotated[
        bool,
        typer.Option(
            help="With --data as a Parquet file: stream it and fit T/DR from an on-disk row cache (XGBoost external "
            "memory) so memory stays flat; automatic above 2,000,000 rows."
        ),
    ] = False,
) -> None:
    """Choose and train the uplift learner (and the ranker on synthetic data), evaluate on a held-out split, publish
    `models/<version>/`. Your own data: `--data log.csv --treatment arm --outcome converted`."""
    if rows <= 0:
        raise fail(f"--rows: must be a positive integer, got {rows}")
    _check_share(propensity, "--propensity")
    _check_out_parent(out, "--out")
    if (lower is None) != (upper is None):
        raise fail("--lower/--upper: give both thresholds or neither (the placebo rule picks them)")
    if lower is not None and upper is not None and lower > upper:
        raise fail(f"--lower: must not exceed --upper ({lower} > {upper})")
    if outcome_kind not in ("auto", "binary", "continuous"):
        raise fail(f"--outcome-kind: must be auto, binary or continuous, got {outcome_kind!r}")
    if arms not in (2, 3):
        raise fail(f"--arms: must be 2 or 3, got {arms}")
    _check_shape(shape)
    if data is not None and shape != "hard":
        raise fail("--shape: only for synthetic data; drop it with --data")
    if data is not None and (treatment is None or outcome is None):
        raise fail("--treatment/--outcome: both are required with --data")
    from services.trainer.learning import LEARNER_CODES

    if learner is not None and learner != "auto" and learner not in LEARNER_CODES:
        raise fail(f"--learner: must be auto or one of {', '.join(LEARNER_CODES)}, got {learner!r}")
    if not 2 <= folds <= 10:
        raise fail(f"--folds: must be between 2 and 10, got {folds}")
    if observational:
        _check_observational(propensity, shape, expected_split, fail_on_srm)
        learner = _observational_learner(learner or _settings(n_jobs).learner)
    if dask_scheduler is not None and data is None:
        raise fail("--dask-scheduler: needs --data (a Parquet file, folder or glob, or a CSV file)")
    if external_memory and (data is None or dask_scheduler is not None):
        raise fail("--external-memory: needs --data (a Parquet file) and no --dask-scheduler")
    external = data is not None and dask_scheduler is None and (external_memory or _above_auto_rows(data))
    from services.trainer.pipeline import train as run
    from services.trainer.validate import DataError, parse_split
    from shared.artifacts import ArtifactError
    from shared.estimators.selection import SelectionError

    settings = _settings(n_jobs).model_copy(
        update={"folds": folds} | ({"learner": learner} if learner else {})
    )
    report = _progress()
    try:
        if data is not None and dask_scheduler is not None:
            training = _dask_data(dask_scheduler, data, treatment, outcome, control, features, exclude,
                                  categorical, id_column, outcome_kind, seed, report)  # fmt: skip
            split = parse_split(expected_split) if expected_split else None
        elif data is not None and external:
            from services.trainer.external import open_external

            report(f"open {data} for external-memory training")
            training = open_external(_file_spec(data, treatment, outcome, control, features, exclude, categorical,
                                                id_column, outcome_kind, seed))  # fmt: skip
            split = parse_split(expected_split) if expected_split else None
        elif data is not None:
            report(f"read {data}")
            training = _file_data(
                data,
                treatment,
                outcome,
                control,
                features,
                exclude,
                categorical,
                id_column,
                outcome_kind,
                seed,
            )
            split = parse_split(expected_split) if expected_split else None
        elif observational:
            from services.trainer.observational import synthetic_training_data

            report(f"generate a confounded synthetic table ({rows} users, {arms} arms, seed {seed})")
            training, split = synthetic_training_data(rows, seed, arms, outcome_kind), None
        else:
            training, split = _synthetic_data(rows, seed, propensity, arms, shape, report)
        report("validate")
        checked = training.validate(split, settings.limits())
    except DataError as exc:
        if data is None and "each arm needs at least" in exc.rule:
            # Synthetic data: the user's lever is --rows, not the arm the validator names.
            raise fail(f"--rows: {rows} users are too few ({exc}); use --rows 2000 or more") from exc
        raise fail(str(exc)) from exc
    for warning in checked.warnings:
        # Without randomization there is no designed split, so a "mismatch" says nothing.
        if not (observational and warning == checked.srm.message()):
            typer.echo(f"warning: {warning}", err=True)
    if fail_on_srm and checked.srm.mismatch:
        raise fail(f"{training.treatment}: {checked.srm.message()}")
    thresholds = (lower, upper) if lower is not None and upper is not None else None
    try:
        runner = _dask_train if dask_scheduler is not None else _external_train if external else run
        result = runner(
            training, out, settings, thresholds=thresholds, progress=report, warn=_warn,
            publish_if=_signal_gate(require_signal), observational=observational,
        )  # fmt: skip
    except SelectionError as exc:
        raise fail(str(exc)) from exc
    except (ArtifactError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if observational:
        from services.trainer.observational import summary_lines

        typer.echo("SRM check: skipped (--observational: assignment was not randomized)")
        for line in summary_lines(result.metrics["observational"]):
            typer.echo(line)
    else:
        typer.echo(f"SRM check: {checked.srm.summary()}")
        typer.echo("assumptions (randomized): " + "; ".join(result.metrics["assumptions"]["list"]))
    _print_summary(result.metrics)
    if result.path is None:
        typer.echo(
            "error: --require-signal: " + result.metrics["verdict"]["message"] + "; nothing published",
            err=True,
        )
        raise typer.Exit(code=1)
    typer.echo(f"published {result.path} (current); timings {result.timings}")


def _check_observational(
    propensity: float, shape: str, expected_split: str | None, fail_on_srm: bool
) -> None:
    """Options that only make sense for a randomized experiment contradict --observational."""
    if expected_split is not None:
        raise fail("--expected-split: contradicts --observational (no designed split to check)")
    if fail_on_srm:
        raise fail("--fail-on-srm: contradicts --observational (assignment was not randomized)")
    if propensity != 0.5:
        raise fail(
            "--propensity: sets a randomized share; with --observational assignment follows the features"
        )
    if shape != "hard":
        raise fail("--shape: a randomized synthetic market; with --observational drop it")


def _observational_learner(requested: str) -> str:
    from services.trainer.observational import ObservationalError, learner_for

    try:
        return learner_for(requested)
    except ObservationalError as exc:
        raise fail(str(exc)) from exc


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def _signal_gate(required: bool) -> Any:
    """With --require-signal, publish only a model whose held-out verdict found signal."""
    return (lambda metrics: bool(metrics["verdict"]["signal"])) if required else None


def _synthetic_data(
    rows: int, seed: int, propensity: float, arms: int, shape: str, report: Any
) -> tuple[Any, Any]:
    from services.trainer.data import from_market, market_split
    from shared.synthetic import MarketConfig, generate_market

    config = MarketConfig(rows=rows, seed=seed, treatment_share=propensity, n_arms=arms, shape=shape)
    report(f"generate synthetic {shape} market ({rows} users, {arms} arms, seed {seed})")
    return from_market(generate_market(config)), market_split(config)


def _dask_data(address: str, path: Path, *args: Any) -> Any:
    """A DaskRun on the scheduler at ``address``: any failure to use the cluster is one line naming the option."""
    from services.trainer.dask_data import ClusterError, connect
    from services.trainer.distributed import open_run

    report = args[-1]
    report(f"connect to the Dask scheduler {address}")
    try:
        client = connect(address)
    except ClusterError as exc:
        raise fail(str(exc)) from exc
    report(f"read {path} as a Dask dataframe")
    return open_run(client, _file_spec(path, *args[:-1]))


def _dask_train(training: Any, out: Path, settings: Any, **kwargs: Any) -> Any:
    """Train on the cluster; a cluster failure (e.g. a worker killed mid-fit) publishes nothing."""
    from services.trainer.validate import DataError
    from shared.estimators.selection import SelectionError

    try:
        return training.train(out, settings, **kwargs)
    except (DataError, SelectionError):
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise fail(
            f"--dask-scheduler: training failed on the cluster ({type(exc).__name__}: {reason}); nothing published"
        ) from exc
    finally:
        training.client.close()


def _above_auto_rows(path: Path) -> bool:
    from services.trainer.external import AUTO_ROWS, parquet_rows

    rows = parquet_rows(path)
    return rows is not None and rows > AUTO_ROWS


def _external_train(training: Any, out: Path, settings: Any, **kwargs: Any) -> Any:
    return training.train(out, settings, **kwargs)


def _file_data(*args: Any) -> Any:
    from services.trainer.data import from_file

    return from_file(_file_spec(*args))


def _file_spec(
    path: Path,
    treatment: str | None,
    outcome: str | None,
    control: str | None,
    features: list[str] | None,
    exclude: list[str] | None,
    categorical: list[str] | None,
    id_column: str | None,
    outcome_kind: str,
    seed: int,
) -> Any:
    from services.trainer.data import FileSpec

    assert treatment is not None and outcome is not None
    return FileSpec(
        path=path,
        treatment=treatment,
        outcome=outcome,
        control=control,
        features=_split_names(features),
        exclude=_split_names(exclude),
        categorical=_split_names(categorical),
        id_column=id_column,
        outcome_kind=outcome_kind,  # type: ignore[arg-type]  # checked against the three values above
        seed=seed,
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


def _print_learner(report: dict[str, Any]) -> None:
    typer.echo(f"learner: {report['chosen']} ({report['reason']})")
    rows = [*report.get("candidates", []), *report.get("ensembles", [])]
    if rows:
        typer.echo(
            f"  out-of-fold ({report['folds']} folds, {report['rows']} rows): Qini ± bootstrap sd, vs T-learner"
        )
    for c in rows:
        if c["qini"] is None:
            typer.echo(f"  {c['learner']:>8}: failed ({c['error']})")
            continue
        vs_t = (
            f"{c['qini_minus_t']:+.5f} ± {c['qini_minus_t_sd']:.5f}"
            if c.get("qini_minus_t_sd")
            else "baseline"
        )
        typer.echo(f"  {c['learner']:>8}: {c['qini']:.5f} ± {c['qini_sd']:.5f}   {vs_t}")


def _maybe(value: float | None) -> str:
    """Undefined ratios (a null market's zero oracle) print as n/a instead of failing the run."""
    return "n/a" if value is None else f"{value:.3f}"


def _print_summary(metrics: dict[str, Any]) -> None:
    _print_learner(metrics["learner"])
    for arm, res in metrics["arms"].items():
        parts = [f"arm {arm}: qini={res['qini']:.5f}"]
        if "qini_oracle" in res:
            parts.append(f"oracle={res['qini_oracle']:.5f} ratio={_maybe(res['qini_vs_oracle'])}")
            parts.append(f"pearson={_maybe(res['pearson_cate_truth'])}")
        parts.append(f"placebo={res['qini_placebo']:.5f}")
        q = res["compare"]["chosen"]["qini"]
        parts.append(f"90% interval [{q['low']:.5f}, {q['high']:.5f}]")
        parts.append(f"T-learner={res['compare']['t_learner']['qini']['value']:.5f}")
        parts.append(f"response model={res['compare']['response_model']['qini']['value']:.5f}")
        typer.echo(" ".join(parts))
    verdict = metrics["verdict"]
    typer.echo(("verdict: " if verdict["signal"] else "WARNING: ") + verdict["message"])
    seg = metrics["segments"]
    typer.echo(f"segments: lower={seg['lower']:.4f} upper={seg['upper']:.4f} shares={seg['shares']}")
    if "vs_truth" in seg:
        vs = seg["vs_truth"]
        typer.echo(
            f"sleeping-dog recall={_maybe(vs['recall']['Sleeping Dog'])} "
            f"persuadable precision={_maybe(vs['precision']['Persuadable'])}"
        )
    if "ranker" in metrics:
        r = metrics["ranker"]
        typer.echo(f"ranker NDCG@10={r['ndcg10_model']:.4f} vs popularity {r['ndcg10_popularity']:.4f}")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(train)
    app.command()(score)
