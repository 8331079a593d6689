"""The decision report: health checks first, then effects (or why they are withheld), a decision, caveats.

One function (``analyze``) serves the CLI, the API and the dashboard, so all three say the same.
The result is a dataclass; ``to_dict`` gives JSON-safe data (no NaN or infinity), ``to_markdown``
the human report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.stats.bayesian import BayesianResult, bayesian_compare
from shared.stats.cuped import CupedResult
from shared.stats.frequentist import Comparison, compare_to_control
from shared.stats.inputs import ContinuousVariant, ConversionVariant, Variant, check_variants
from shared.stats.power import mde_means, mde_proportions
from shared.stats.sequential import SequentialResult, msprt_test
from shared.stats.srm import SrmResult, sample_ratio_test

MIN_EVENTS = 5  # fewer successes or failures than this and the normal approximation is poor


@dataclass(frozen=True)
class VariantSummary:
    name: str
    users: int
    mean: float
    sd: float
    conversions: int | None = None
    total: float | None = None


@dataclass(frozen=True)
class HealthCheck:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class CupedSection:
    covariates: list[str]
    theta: list[float]
    variance_reduction: float
    comparisons: list[Comparison]


@dataclass(frozen=True)
class SequentialSection:
    tau: float
    tau_rule: str
    loss_threshold: float
    tests: list[SequentialResult]
    bayesian_stop: bool
    bayesian_choice: str


@dataclass(frozen=True)
class Decision:
    outcome: str  # "ship" | "keep control" | "keep running" | "withheld"
    winner: str | None
    reason: str


@dataclass(frozen=True)
class DecisionReport:
    metric: str
    metric_type: str
    control: str
    alpha: float
    seed: int | None
    variants: list[VariantSummary]
    srm: SrmResult
    health: list[HealthCheck]
    effects_withheld: bool
    frequentist: list[Comparison] | None
    bayesian: BayesianResult | None
    cuped: CupedSection | None
    sequential: SequentialSection | None
    decision: Decision
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(asdict(self))

    def to_markdown(self) -> str:
        from shared.stats.markdown import render

        return render(self)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _summary(v: Variant) -> VariantSummary:
    sd = math.sqrt(v.variance)
    if isinstance(v, ConversionVariant):
        return VariantSummary(v.name, v.users, v.mean, sd, conversions=v.conversions)
    return VariantSummary(v.name, v.users, v.mean, sd, total=v.total)


def _health(variants: Sequence[Variant], srm: SrmResult) -> list[HealthCheck]:
    shares = ", ".join(f"{k} {srm.observed[k]} vs {srm.expected[k]:.0f}" for k in srm.observed)
    checks = [
        HealthCheck(
            "sample ratio",
            srm.ok,
            f"chi2={srm.chi2:.3f}, p={srm.p_value:.3g} (mismatch below {srm.threshold}); observed vs expected: {shares}",
        )
    ]
    if isinstance(variants[0], ConversionVariant):
        thin = [v.name for v in variants if min(v.conversions, v.users - v.conversions) < MIN_EVENTS]  # type: ignore[union-attr]
        detail = (
            f"fewer than {MIN_EVENTS} conversions or non-conversions in {thin}" if thin else "enough events"
        )
        checks.append(HealthCheck("events per variant", not thin, detail))
    return checks


def _withheld_reason(srm: SrmResult) -> str:
    return (
        f"sample ratio mismatch: p={srm.p_value:.3g} < {srm.threshold} against the planned allocation "
        f"{ {k: round(v, 4) for k, v in srm.allocation.items()} }; assignment or logging is broken, so effect "
        "estimates are withheld. Find the cause, or override the check to see them anyway."
    )


def _mde_note(control: Variant, alpha: float) -> str:
    try:
        if isinstance(control, ConversionVariant):
            mde = mde_proportions(control.mean, control.users, alpha, 0.8)
        else:
            mde = mde_means(math.sqrt(control.variance), control.users, alpha, 0.8)
    except ValueError:
        return ""
    return (
        f" With {control.users} users in control the test detects a difference of {mde:.4g} with 80% power."
    )


def _decide(
    comps: list[Comparison], bayes: BayesianResult, control: Variant, alpha: float, basis: str
) -> Decision:
    best = {v.name: v.prob_best for v in bayes.variants}
    wins = [c for c in comps if c.p_value_holm < alpha and c.difference > 0]
    if wins:
        w = max(wins, key=lambda c: best[c.variant])
        lo, hi = w.ci_difference
        return Decision(
            "ship", w.variant,
            f"{w.variant} beats {w.control} by {w.difference:.4g} ({1 - alpha:.0%} CI {lo:.4g} to {hi:.4g}; "
            f"Holm-adjusted p={w.p_value_holm:.3g}, {basis}); P(best)={best[w.variant]:.3f}.",
        )  # fmt: skip
    if all(c.p_value_holm < alpha and c.difference < 0 for c in comps):
        return Decision(
            "keep control",
            control.name,
            f"every treatment is significantly worse than {control.name} ({basis}).",
        )
    ps = ", ".join(f"{c.variant} p={c.p_value_holm:.3g}" for c in comps)
    return Decision(
        "keep running", None,
        f"no treatment differs from {control.name} at alpha={alpha} after Holm ({ps}; {basis}).{_mde_note(control, alpha)}",
    )  # fmt: skip


def _sequential(
    variants: Sequence[Variant],
    ctrl: Variant,
    bayes: BayesianResult,
    alpha: float,
    tau: float | None,
    eps: float | None,
) -> SequentialSection:
    spread = math.sqrt(ctrl.variance) or 1.0
    tau_value = tau if tau is not None else (0.1 * abs(ctrl.mean) if ctrl.mean else 0.1 * spread)
    tau_rule = "given" if tau is not None else "10% of the control mean"
    eps_value = eps if eps is not None else 0.01 * (abs(ctrl.mean) or spread)
    tests = [
        msprt_test(
            v.name,
            ctrl.name,
            v.mean - ctrl.mean,
            v.variance / v.users + ctrl.variance / ctrl.users,
            tau_value,
            alpha,
        )
        for v in variants
        if v.name != ctrl.name
    ]
    choice = min(bayes.variants, key=lambda p: p.expected_loss)
    return SequentialSection(
        tau_value, tau_rule, eps_value, tests, choice.expected_loss < eps_value, choice.name
    )


def _caveats(
    variants: Sequence[Variant], srm: SrmResult, cuped: CupedResult | None, override: bool
) -> list[str]:
    out = []
    if srm.allocation_assumed:
        out.append("No planned allocation was given: the sample-ratio check assumed equal shares.")
    if not srm.ok and override:
        out.append("The sample-ratio check FAILED and was overridden: the effects below may be biased.")
    if len(variants) > 2:
        out.append("Several treatments: frequentist p-values are Holm-adjusted across them.")
    out.append(
        "The fixed-horizon p-values are valid only at a sample size planned in advance; if you peek and may "
        "stop early, use the always-valid (mSPRT) p-values in the sequential section."
    )
    if isinstance(variants[0], ContinuousVariant):
        out.append(
            "Bayesian results for a continuous metric use a Normal posterior of the mean (large-sample)."
        )
    if all(v.mean == 0 for v in variants):
        out.append("The metric is zero in every variant: there is nothing to compare yet.")
    if cuped is not None:
        out.append(
            f"CUPED on {cuped.covariates} assumes they were measured before assignment; the decision uses the adjusted metric."
        )
    return out


def analyze(
    variants: Sequence[Variant],
    *,
    control: str | None = None,
    allocation: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    override_srm: bool = False,
    seed: int | None = None,
    metric: str = "metric",
    cuped: CupedResult | None = None,
    tau: float | None = None,
    loss_threshold: float | None = None,
) -> DecisionReport:
    """The full decision report for a set of variants (the first is the control unless ``control`` names one)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: must be strictly between 0 and 1, got {alpha!r}")
    name = check_variants(variants, control)
    ctrl = next(v for v in variants if v.name == name)
    srm = sample_ratio_test({v.name: v.users for v in variants}, allocation)
    common: dict[str, Any] = {
        "metric": metric, "metric_type": "binary" if isinstance(ctrl, ConversionVariant) else "continuous",
        "control": name, "alpha": alpha, "seed": seed, "variants": [_summary(v) for v in variants], "srm": srm,
        "health": _health(variants, srm), "caveats": _caveats(variants, srm, cuped, override_srm),
    }  # fmt: skip
    if not srm.ok and not override_srm:
        return DecisionReport(
            **common, effects_withheld=True, frequentist=None, bayesian=None, cuped=None, sequential=None,
            decision=Decision("withheld", None, _withheld_reason(srm)),
        )  # fmt: skip
    comps = compare_to_control(variants, name, alpha)
    bayes = bayesian_compare(variants, name, 1 - alpha)
    section = None
    basis, decisive = "unadjusted metric", comps
    if cuped is not None:
        adjusted = compare_to_control(cuped.variants, name, alpha)
        section = CupedSection(cuped.covariates, cuped.theta, cuped.variance_reduction, adjusted)
        basis, decisive = "CUPED-adjusted metric", adjusted
    return DecisionReport(
        **common, effects_withheld=False, frequentist=comps, bayesian=bayes, cuped=section,
        sequential=_sequential(variants, ctrl, bayes, alpha, tau, loss_threshold),
        decision=_decide(decisive, bayes, ctrl, alpha, basis),
    )  # fmt: skip


__all__ = [
    "CupedSection",
    "Decision",
    "DecisionReport",
    "HealthCheck",
    "SequentialSection",
    "VariantSummary",
    "analyze",
]
