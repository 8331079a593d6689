"""Markdown rendering of a decision report (tables a reviewer reads top to bottom)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.stats.frequentist import Comparison
    from shared.stats.report import DecisionReport


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}g}"


def _ci(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"[{_f(ci[0])}, {_f(ci[1])}]"


def _comparisons(comps: list[Comparison], level: str) -> list[str]:
    rows = [
        f"| variant | test | difference | {level} CI | relative lift | {level} CI (delta method) | p | Holm p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in comps:
        rows.append(
            f"| {c.variant} | {c.test} | {_f(c.difference)} | {_ci(c.ci_difference)} | {_f(c.relative_lift)} "
            f"| {_ci(c.ci_relative_lift)} | {_f(c.p_value, 3)} | {_f(c.p_value_holm, 3)} |"
        )
    return rows


def _header(r: DecisionReport) -> list[str]:
    out = [
        f"# Experiment analysis: `{r.metric}` ({r.metric_type})",
        "",
        f"**Decision: {r.decision.outcome}**" + (f" — {r.decision.winner}" if r.decision.winner else ""),
        "",
        r.decision.reason,
        "",
        f"Control: `{r.control}`, alpha = {r.alpha}, seed = {r.seed} (no random draws: all integrals are numerical).",
        "",
        "## Variants",
        "| variant | users | mean | sd |",
        "|---|---|---|---|",
    ]
    out += [f"| {v.name} | {v.users} | {_f(v.mean)} | {_f(v.sd)} |" for v in r.variants]
    out += ["", "## Health checks", "| check | ok | detail |", "|---|---|---|"]
    out += [f"| {h.name} | {'yes' if h.ok else 'NO'} | {h.detail} |" for h in r.health]
    return out


def _effects(r: DecisionReport) -> list[str]:
    level = f"{1 - r.alpha:.0%}"
    out = ["", "## Frequentist", *_comparisons(r.frequentist or [], level)]
    if r.bayesian is not None:
        b = r.bayesian
        out += ["", f"## Bayesian ({b.model}, prior {b.prior})", f"| variant | posterior | mean | {level} credible | P(best) | expected loss |", "|---|---|---|---|---|---|"]  # fmt: skip
        out += [
            f"| {v.name} | {v.distribution} | {_f(v.mean)} | {_ci(v.ci)} | {v.prob_best:.4f} | {_f(v.expected_loss)} |"
            for v in b.variants
        ]
        out += ["", f"| variant | P(> {r.control}) | absolute lift [{level}] | relative lift (median) [{level}] |", "|---|---|---|---|"]  # fmt: skip
        for lift in b.lifts:
            a, rel = lift.absolute, lift.relative
            rel_s = "–" if rel is None else f"{_f(rel.estimate)} [{_f(rel.low)}, {_f(rel.high)}]"
            out.append(
                f"| {lift.variant} | {lift.prob_beats_control:.4f} | {_f(a.estimate)} [{_f(a.low)}, {_f(a.high)}] | {rel_s} |"
            )
    if r.cuped is not None:
        c = r.cuped
        theta = ", ".join(f"{n}={t:.4g}" for n, t in zip(c.covariates, c.theta, strict=True))
        out += [
            "",
            f"## CUPED ({theta}; variance reduction {c.variance_reduction:.2%})",
            *_comparisons(c.comparisons, level),
        ]
    if r.sequential is not None:
        s = r.sequential
        out += ["", f"## Sequential (mSPRT, tau={_f(s.tau)} = {s.tau_rule})", "| variant | always-valid p | reject |", "|---|---|---|"]  # fmt: skip
        out += [
            f"| {t.variant} | {_f(t.p_value_always_valid, 3)} | {'yes' if t.reject else 'no'} |"
            for t in s.tests
        ]
        verdict = "stop" if s.bayesian_stop else "continue"
        out += ["", f"Bayesian expected-loss rule (threshold {_f(s.loss_threshold)}): {verdict}; lowest loss: {s.bayesian_choice}."]  # fmt: skip
    return out


def render(r: DecisionReport) -> str:
    out = _header(r)
    if r.effects_withheld:
        out += ["", "## Effects", "", "Withheld: " + r.decision.reason]
    else:
        out += _effects(r)
    out += ["", "## Caveats", *[f"- {c}" for c in r.caveats], ""]
    return "\n".join(out)


__all__ = ["render"]
