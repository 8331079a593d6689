"""`uplift train`: its options, their checks, and the printed summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from services.trainer.cli_common import (
    SHAPE_OPTION_HELP,
    _check_out_parent,
    _check_shape,
    _check_share,
    _progress,
    _settings,
    _split_names,
    fail,
)
from services.trainer.log_options import check_log, with_log
from services.trainer.train_summary import print_log_summary, print_summary


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
        bool | None,
        typer.Option(
            help="With --data as a Parquet file: stream it and fit T/DR from an on-disk row cache (XGBoost external "
            "memory) so memory stays flat; automatic above 2,000,000 rows unless --no-external-memory (in memory, "
            "whatever the size)."
        ),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option(
            help="With --data (a two-arm experiment, 0/1 outcome): also learn from this assignment-log export "
            "(`uplift log export --out`), its rewarded rows weighted by the logged propensities; held-out "
            "evaluation stays on experiment rows. See docs/learning-loop.md."
        ),
    ] = None,
    propensity_floor: Annotated[
        float,
        typer.Option(
            help="With --log: every row's P(treatment | x) is clipped to [floor, 1 - floor], so no row weighs "
            "more than 1/floor; in (0, 0.5)."
        ),
    ] = 0.05,
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
    check_log(log, propensity_floor, data, observational, dask_scheduler, bool(external_memory))
    if observational:
        _check_observational(propensity, shape, expected_split, fail_on_srm)
        learner = _observational_learner(learner or _settings(n_jobs).learner)
    if dask_scheduler is not None and data is None:
        raise fail("--dask-scheduler: needs --data (a Parquet file, folder or glob, or a CSV file)")
    if external_memory and (data is None or dask_scheduler is not None):
        raise fail("--external-memory: needs --data (a Parquet file) and no --dask-scheduler")
    # None: out of core above the threshold; False forces memory (e.g. to measure its peak at that size).
    external = (data is not None and dask_scheduler is None) and (
        bool(external_memory) or (external_memory is None and _above_auto_rows(data))
    )
    if log is not None and external:
        raise fail(
            "--log: trains in memory only; --data is above the external-memory threshold, use a smaller file"
        )
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
    if log is not None:
        training = with_log(training, log, propensity_floor, report)
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
    print_summary(result.metrics)
    if "log" in result.metrics:
        print_log_summary(result.metrics["log"])
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
