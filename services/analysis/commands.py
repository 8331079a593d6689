"""`uplift analyze`: read an experiment's rows, write the decision report (Markdown + JSON)."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from shared.stats import DecisionReport

_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


class MetricType(StrEnum):
    auto = "auto"
    binary = "binary"
    continuous = "continuous"


def fail(message: str) -> typer.Exit:
    """One clear line on stderr and exit code 2, the convention for a bad invocation."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def parse_allocation(items: list[str]) -> dict[str, float] | None:
    """``NAME=SHARE`` pairs (shares need not sum to 1; they are normalized)."""
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, share = item.rpartition("=")
        if not sep or not name:
            raise fail(f"--allocation: must be NAME=SHARE, got {item!r}")
        try:
            value = float(share)
        except ValueError:
            raise fail(f"--allocation: share of {name!r} must be a number, got {share!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise fail(f"--allocation: share of {name!r} must be finite and positive, got {share}")
        if name in out:
            raise fail(f"--allocation: {name!r} is given twice")
        out[name] = value
    return out


def _check_options(data: Path, alpha: float, out: Path | None, tau: float | None, loss: float | None) -> None:
    if not data.name.lower().endswith(_SUFFIXES):
        raise fail(f"--data: must be a .csv, .csv.gz or .parquet file, got {data.name!r}")
    if not data.is_file():
        raise fail(f"--data: no such file {data}")
    if not 0.0 < alpha < 1.0:
        raise fail(f"--alpha: must be strictly between 0 and 1, got {alpha}")
    if tau is not None and not (math.isfinite(tau) and tau > 0):
        raise fail(f"--tau: must be finite and positive, got {tau}")
    if loss is not None and not (math.isfinite(loss) and loss > 0):
        raise fail(f"--loss-threshold: must be finite and positive, got {loss}")
    if out is not None and not out.resolve().parent.is_dir():
        raise fail(f"--out: parent folder {out.resolve().parent} does not exist")


def _read(data: Path, columns: list[str], options: list[str] | None = None) -> pd.DataFrame:
    import pandas as pd

    if data.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        available = pq.read_schema(data).names
    else:
        available = list(pd.read_csv(data, nrows=0).columns)
    options = options or ["--variant", "--metric", *["--pre"] * (len(columns) - 2)]
    for option, col in zip(options, columns, strict=True):
        if col not in available:
            raise fail(f"{option}: column {col!r} is not in {data.name} (columns: {', '.join(available)})")
    if data.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(data, columns=list(dict.fromkeys(columns)))
    return pd.read_csv(data, usecols=list(dict.fromkeys(columns)))


def _print_summary(report: DecisionReport, md: Path, js: Path) -> None:
    srm = report.srm
    typer.echo(f"metric {report.metric} ({report.metric_type}), control {report.control!r}")
    for v in report.variants:
        typer.echo(f"  {v.name}: users={v.users} mean={v.mean:.6g}")
    typer.echo(f"sample ratio: chi2={srm.chi2:.3f} p={srm.p_value:.3g} {'ok' if srm.ok else 'MISMATCH'}")
    for c in report.frequentist or []:
        lo, hi = c.ci_difference
        typer.echo(
            f"  {c.variant} vs {c.control}: diff={c.difference:.6g} [{lo:.6g}, {hi:.6g}] Holm p={c.p_value_holm:.3g}"
        )
    if report.bayesian is not None:
        typer.echo("  P(best): " + ", ".join(f"{p.name}={p.prob_best:.4f}" for p in report.bayesian.variants))
    if report.cuped is not None:
        typer.echo(
            f"  CUPED theta={report.cuped.theta} variance reduction={report.cuped.variance_reduction:.3%}"
        )
    typer.echo(
        f"decision: {report.decision.outcome}"
        + (f" ({report.decision.winner})" if report.decision.winner else "")
    )
    typer.echo(f"  {report.decision.reason}")
    typer.echo(f"wrote {md} and {js}")


CONTROL_NAMES = ("control", "ctrl", "baseline", "holdout", "0")


def default_control(labels: list[str], variant: str) -> str:
    """The control when --control is not given: the one variant with a control-like name, said aloud.

    Taking the first row's variant (as before) silently made a treatment the baseline whenever the
    file happened to start with one, flipping every effect's sign.
    """
    named = [v for v in labels if v.strip().lower() in CONTROL_NAMES]
    if len(named) != 1:
        found = "several control-like variants" if named else "no variant named " + "/".join(CONTROL_NAMES)
        raise fail(
            f"--control: required ({found} among {variant} values {labels}); e.g. --control {labels[0]!r}"
        )
    typer.echo(f"control: {named[0]!r} (named like a control; pass --control to choose another)")
    return named[0]


def analyze(
    data: Annotated[Path, typer.Option(help="Experiment rows: .csv, .csv.gz or .parquet, one row per user.")],
    variant: Annotated[str, typer.Option(help="Column holding each user's variant (arm).")],
    metric: Annotated[
        str, typer.Option(help="Column holding the outcome (0/1 for a conversion, or a number).")
    ],
    control: Annotated[
        str | None,
        typer.Option(
            help="Control variant's value. Without it, a variant named control, ctrl, baseline, holdout or 0 "
            "(any case) is the control; a file with none of these needs --control."
        ),
    ] = None,
    pre: Annotated[
        list[str] | None, typer.Option(help="Pre-period covariate column for CUPED (repeat for several).")
    ] = None,
    allocation: Annotated[
        list[str] | None,
        typer.Option(help="Planned share NAME=SHARE per variant, repeated (default: equal shares)."),
    ] = None,
    metric_type: Annotated[
        MetricType, typer.Option(help="binary, continuous, or auto (binary when every value is 0/1).")
    ] = MetricType.auto,
    alpha: Annotated[
        float, typer.Option(help="Significance level in (0, 1); intervals are 1 − alpha.")
    ] = 0.05,
    override_srm: Annotated[
        bool, typer.Option("--override-srm", help="Report effects even when the sample-ratio check fails.")
    ] = False,
    tau: Annotated[
        float | None, typer.Option(help="mSPRT mixture scale (effect size the sequential test is tuned for).")
    ] = None,
    loss_threshold: Annotated[
        float | None, typer.Option(help="Expected loss under which the Bayesian rule stops (metric units).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Recorded in the report (the analysis itself draws no random numbers).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Report path without suffix; writes OUT.md and OUT.json. Default reports/<data>-<metric>."
        ),
    ] = None,
    observational: Annotated[
        bool,
        typer.Option(
            "--observational",
            help="Variants were NOT randomized: adds the average effect adjusted for --confounder columns "
            "(AIPW, overlap trimming, refutations, E-value); no sample-ratio gate.",
        ),
    ] = False,
    confounder: Annotated[
        list[str] | None,
        typer.Option(help="With --observational: a column that drives both variant and outcome (repeat)."),
    ] = None,
) -> None:
    """Health checks, frequentist and Bayesian effects, CUPED, sequential view and a decision."""
    _check_options(data, alpha, out, tau, loss_threshold)
    shares = parse_allocation(allocation or [])
    covariates = list(pre or [])
    confounders = list(confounder or [])
    if observational and not confounders:
        raise fail("--confounder: required with --observational (the columns that drive variant and outcome)")
    if confounders and not observational:
        raise fail("--confounder: only with --observational")
    if observational and shares is not None:
        raise fail("--allocation: contradicts --observational (there is no planned split)")
    frame = _read(
        data,
        [variant, metric, *covariates, *confounders],
        ["--variant", "--metric", *["--pre"] * len(covariates), *["--confounder"] * len(confounders)],
    )
    labels = frame[variant].astype(str).to_numpy()
    if control is not None and control not in set(labels):
        raise fail(f"--control: {control!r} is not a value of {variant} ({sorted(set(labels))})")
    if control is None:
        control = default_control(sorted(set(labels)), variant)
    from shared.stats import analyze_rows

    try:
        report = analyze_rows(
            labels, frame[metric].to_numpy(dtype="float64", na_value=float("nan")),
            metric_type=None if metric_type is MetricType.auto else metric_type.value,
            pre=frame[covariates].to_numpy(dtype="float64", na_value=float("nan")) if covariates else None,
            covariates=covariates, control=control, allocation=shares, alpha=alpha,
            override_srm=override_srm or observational,
            seed=seed, metric=metric, tau=tau, loss_threshold=loss_threshold,
        )  # fmt: skip
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if out is None:
        stem = data.name.split(".")[0]
        out = Path("reports") / f"{stem}-{metric}"
        out.parent.mkdir(parents=True, exist_ok=True)
    md, js = out.with_name(out.name + ".md"), out.with_name(out.name + ".json")
    sections, markdown = _trends(data, variant, metric, report, alpha)
    lines: list[str] = []
    if observational:
        from services.analysis.observational import observational_section
        from services.trainer.observational import ObservationalError

        try:
            section, obs_md, lines = observational_section(
                frame, variant, metric, confounders, report.control, report.metric_type, seed or 0
            )
        except ObservationalError as exc:
            raise fail(str(exc)) from exc
        sections = {**sections, "observational": section}
        markdown += obs_md
    from services.trainer.observational import ASSUMPTIONS

    path = "observational" if observational else "randomized"
    sections = {**sections, "assumptions": {"path": path, "list": ASSUMPTIONS[path]}}
    md.write_text(report.to_markdown() + markdown)
    js.write_text(json.dumps({**report.to_dict(), **sections}, indent=2))
    _print_summary(report, md, js)
    if observational:
        typer.echo("sample ratio: not a check here (--observational: variants were not randomized)")
        for line in lines:
            typer.echo(line)
    else:
        typer.echo(f"assumptions (randomized): {'; '.join(ASSUMPTIONS['randomized'])}")


def _trends(
    data: Path, variant: str, metric: str, report: DecisionReport, alpha: float
) -> tuple[dict[str, object], str]:
    """Funnel and daily trend when the file is a prepared table (`uplift prepare`); else null keys."""
    try:
        from services.events.sections import trend_sections
    except ModuleNotFoundError:  # an image without the events part
        return {}, ""
    try:
        return trend_sections(data, variant, metric, report.control, report.metric_type, alpha)
    except ValueError as exc:
        raise fail(str(exc)) from exc


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
