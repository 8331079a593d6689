"""What `uplift train` prints after a run: the learner choice, per-arm quality, verdict, segments, ranker."""

from __future__ import annotations

import sys
from typing import Any

import typer

__all__ = ["print_log_summary", "print_summary"]


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
    for c in report.get("calibration", {}).get("arms", []):
        fitted = f"slope {c['slope']:.3f} ± {c['slope_se']:.3f}" if c["slope_se"] else "not fitted"
        typer.echo(
            f"effect scale on held-out rows, arm {c['arm']}: {fitted}: "
            + (
                f"spread around the average effect {c['mean_effect']:+.4f} scaled by the slope"
                if c["applied"]
                else "served as fitted"
            )
            + f" ({c['reason']})"
        )


def _maybe(value: float | None) -> str:
    """Undefined ratios (a null market's zero oracle) print as n/a instead of failing the run."""
    return "n/a" if value is None else f"{value:.3f}"


def print_summary(metrics: dict[str, Any]) -> None:
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


def print_log_summary(log: dict[str, Any]) -> None:
    """What --log added: rows used and dropped, the weight cap and how many rows hit it, the rules."""
    typer.echo(
        f"log: {log['rows_used']} of {log['rows_in_file']} rows of {log['path']} used (arms {log['arms']}); "
        f"dropped {log['dropped_unrewarded']} without a reward and {log['dropped_without_features']} without "
        f"features; {log['clipped_rows']} logged rows clipped to the propensity floor {log['propensity_floor']} "
        "(they train; only the others judge the experiment's weight)"
    )
    typer.echo(f"log weighting: {log['weighting']}")
    typer.echo(f"log selection: {log['selection']}; {log['evaluation']}")
    weight = log.get("experiment_weight")
    if weight is not None:
        regions = weight.get("regions") or {}
        if regions.get("used"):
            typer.echo(f"experiment weight beside the log, per region: {weight['reason']}")
        else:
            typer.echo(f"experiment weight beside the log: {weight['chosen']:g} ({weight['reason']})")
    sys.stdout.flush()
