"""The policy benchmark's must-show checks and its printed tables (the JSON holds every figure)."""

from __future__ import annotations

from typing import Any

from policy_figures import POLICIES

TARGETS = {
    "served_over_greedy": 0.97,
    "served_over_oracle": 0.9,
    "campaign_spend_min": 0.9,
    "drift_over_oracle": 0.9,
}


def _check(figure: float | None, target: str, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"figure": figure, "target": target, "met": met, **({"note": note} if note else {})}


def _at_least(figure: float | None, floor: float) -> dict[str, Any]:
    return _check(figure, f">= {floor}", None if figure is None else figure >= floor)


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every must-show figure with its target; ``met`` is None where the figure could not be measured."""
    out: dict[str, dict[str, Any]] = {}
    for k, s in enumerate(report["stationary"], start=1):
        out[f"setting{k}_served_over_greedy"] = _at_least(
            s["served_over_greedy"], TARGETS["served_over_greedy"]
        )
        out[f"setting{k}_served_over_oracle"] = _at_least(
            s["served_over_oracle"], TARGETS["served_over_oracle"]
        )
        share = s["oracle_share"]
        out[f"setting{k}_oracle_share"] = _check(share, "in [0.05, 0.5]", 0.05 <= share <= 0.5)
        for name, row in s.get("off_policy", {}).get("policies", {}).items():
            out[f"setting{k}_dr_covers_{name}"] = _check(
                row["width"], "interval covers truth", row["covered"]
            )
    camp = report.get("campaign", {})
    if "spend_over_budget" in camp:
        ratio = camp["spend_over_budget"]
        ok = ratio is not None and TARGETS["campaign_spend_min"] <= ratio <= 1.0
        out["campaign_spend_over_budget"] = _check(ratio, "in [0.9, 1.0]", ok)
    if "drift" in report:
        d = report["drift"]
        note = "" if d["retrained"] else "no retrain (see waits): the original model served both halves"
        ratio = d["second_half"]["served_over_oracle"]
        out["drift_second_half_over_new_oracle"] = _check(
            ratio, f">= {TARGETS['drift_over_oracle']}", None if ratio is None else ratio >= 0.9, note
        )
    return out


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def _table(figures: dict[str, Any]) -> None:
    pol = figures["policies"]
    print(f"  {'policy':<11}{'incr. conv.':>13}{'treated':>9}{'profit':>12}")
    for name in POLICIES:
        row = pol[name]
        print(
            f"  {name:<11}{row['incremental_conversions']:>13.1f}{row['treated_share']:>9.3f}{row['profit']:>12.1f}"
        )
    print(
        f"  served/greedy {_fmt(figures['served_over_greedy'])}   served/oracle {_fmt(figures['served_over_oracle'])}"
    )


def print_report(report: dict[str, Any]) -> None:
    print(
        f"\nmodel {report['model_version']} ({report['learner']}), {report['users_per_stream']} users per stream"
    )
    for k, s in enumerate(report["stationary"], start=1):
        print(
            f"\nsetting {k}: value {s['value_per_conversion']}, cost {s['cost_per_treatment']}; "
            f"oracle treats {s['oracle_share']:.1%} of the stream; {s['requests_per_s']} requests/s"
        )
        _table(s)
        fifths = "  ".join(
            f"{_fmt(f['served_over_greedy'])}/{_fmt(f['served_over_oracle'])}" for f in s["fifths"]
        )
        print(f"  per fifth, served/greedy / served/oracle: {fifths}")
        for name, row in s.get("off_policy", {}).get("policies", {}).items():
            print(
                f"  DR {name:<11} {row['estimate']:.5f} [{row['low']:.5f}, {row['high']:.5f}] width "
                f"{row['width']:.5f} truth {row['truth']:.5f} covered {'yes' if row['covered'] else 'NO'} (z {row['z']})"
                + _bootstrap_alone(row)
            )
    camp = report.get("campaign", {})
    if "spend" in camp:
        print(f"\ncampaign: spend {camp['spend']} of budget {camp['budget']} = {camp['spend_over_budget']}")
        _table(camp | {"served_over_greedy": None})
    if "drift" in report:
        d = report["drift"]
        half = d["second_half"]
        print(f"\ndrift ({d['change']}), retrained from the log: {d['retrained']}; second half:")
        if d.get("experiment_weight") is not None:
            how = "per region" if d.get("experiment_weight_by_region") else f"{d['experiment_weight']:g}"
            print(f"  retrain {d['retrain_s']} s, experiment weight {how} ({d['experiment_weight_reason']})")
        _table(half)
        print(
            f"  greedy on the original model profit {half['greedy_on_original']['profit']:.1f}; "
            f"on the serving model {half['greedy_on_retrained']['profit']:.1f}"
        )
    print("\nchecks:")
    for name, c in report["checks"].items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[c["met"]]
        print(f"  {name:<40} {c['figure']!s:>10}  {c['target']:<24} {verdict} {c.get('note', '')}")
    for part, why in report["waits"].items():
        print(f"  waits: {part}: {why}")


def _bootstrap_alone(row: dict[str, Any]) -> str:
    """The bootstrap's own interval, when the design variance widened DR's (older runs lack it)."""
    if "bootstrap_low" not in row or (row["bootstrap_low"], row["bootstrap_high"]) == (
        row["low"],
        row["high"],
    ):
        return ""
    covered = "yes" if row["covered_by_bootstrap"] else "NO"
    return f"; bootstrap alone [{row['bootstrap_low']:.5f}, {row['bootstrap_high']:.5f}] covered {covered}"
